import { Type } from '@sinclair/typebox';

/** The application state machine (PRODUCT.md §1). */
export const APPLICATION_STATUSES = ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED', 'ERROR'] as const;
export const ApplicationStatus = Type.Union(APPLICATION_STATUSES.map((s) => Type.Literal(s)));
export type ApplicationStatus = (typeof APPLICATION_STATUSES)[number];

/** States after which nothing more happens. */
export const FINAL_STATUSES: readonly ApplicationStatus[] = ['DEALLOCATED', 'ERROR'];

export function isApplicationStatus(v: unknown): v is ApplicationStatus {
  return typeof v === 'string' && (APPLICATION_STATUSES as readonly string[]).includes(v);
}
