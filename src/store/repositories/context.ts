import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { TxBody } from '../transactions.js';
import type { StoreCapabilities, StoreSignal } from '../types.js';

/** What every repository works with: the database, its capabilities, transactions and wake-ups. */
export interface RepositoryContext {
  readonly db: Kysely<Database>;
  readonly capabilities: StoreCapabilities;
  readonly dialect: 'sqlite' | 'postgres';
  /** Runs a transaction body (state rows appended last, signals sent on commit: see transactions.ts). */
  readonly tx: <T>(fn: TxBody<T>) => Promise<T>;
  /** Sends wake-ups outside a transaction. */
  readonly notify: (signals: readonly StoreSignal[]) => Promise<void>;
}
