/** The two statuses a driver reports for a resource (from the seed). */
export const StatusNone = 'NONE';
export const StatusAllocated = 'ALLOCATED';

export const RESOURCE_STATUSES = [StatusNone, StatusAllocated] as const;
export type ResourceStatus = (typeof RESOURCE_STATUSES)[number];
