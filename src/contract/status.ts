/** The two statuses a driver reports for a resource (as in Aquarium Fish's driver interface). */
export const StatusNone = 'NONE';
export const StatusAllocated = 'ALLOCATED';

export const RESOURCE_STATUSES = [StatusNone, StatusAllocated] as const;
export type ResourceStatus = (typeof RESOURCE_STATUSES)[number];
