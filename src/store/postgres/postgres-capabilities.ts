import type { StoreCapabilities } from '../types.js';

/** PostgreSQL: row locks (FOR UPDATE, SKIP LOCKED), LISTEN/NOTIFY between nodes, many nodes, group commit. */
export const POSTGRES_CAPABILITIES: StoreCapabilities = Object.freeze({
  rowLocks: true,
  crossProcessSignals: true,
  multiNode: true,
  groupCommit: true,
});
