import type { ApplicationStatus } from '../../model/index.js';

/**
 * The application state machine (PRODUCT.md §1): for each status, where it may go.
 * - NEW → ELECTED (a node claimed it), DEALLOCATED (deallocated before any node took it),
 *   ERROR (waited past its wait_timeout).
 * - ELECTED → ALLOCATED (the driver made it), NEW (allocation failed: next definition; or the node
 *   died/restarted mid-allocation), DEALLOCATE (deallocation requested while allocating: the
 *   allocation is undone), ERROR (allocation failed past the retry limit); ELECTED again with a
 *   new description: a progress note of the driver (e.g. how far an image pull is).
 * - ALLOCATED → DEALLOCATE (requested or lifetime ended), ERROR (the resource vanished).
 * - DEALLOCATE → DEALLOCATED (driver deallocated it), ERROR (deallocation failed past its retries).
 * - DEALLOCATED, ERROR: final.
 */
export const TRANSITIONS: Readonly<Record<ApplicationStatus, readonly ApplicationStatus[]>> = Object.freeze({
  NEW: ['ELECTED', 'DEALLOCATED', 'ERROR'],
  ELECTED: ['ALLOCATED', 'NEW', 'DEALLOCATE', 'ERROR', 'ELECTED'],
  ALLOCATED: ['DEALLOCATE', 'ERROR'],
  DEALLOCATE: ['DEALLOCATED', 'ERROR'],
  DEALLOCATED: [],
  ERROR: [],
});

export function canTransition(from: ApplicationStatus, to: ApplicationStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

/**
 * Checks a planned transition against the state machine; a refused one is a bug in the core, so
 * it throws a plain Error (never reaches users as a 4xx).
 */
export function checkedFrom(from: readonly ApplicationStatus[], to: ApplicationStatus): readonly ApplicationStatus[] {
  for (const f of from) {
    if (!canTransition(f, to)) throw new Error(`state machine: ${f} → ${to} is not allowed`);
  }
  return from;
}
