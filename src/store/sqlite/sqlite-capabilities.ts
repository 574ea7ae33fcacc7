import type { StoreCapabilities } from '../types.js';

/** SQLite: one writer at a time (BEGIN IMMEDIATE), signals stay inside the process, one node. */
export const SQLITE_CAPABILITIES: StoreCapabilities = Object.freeze({
  rowLocks: false,
  crossProcessSignals: false,
  multiNode: false,
  groupCommit: true,
});
