import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { StoreCapabilities } from './types.js';

/** What the Kysely store needs from a concrete database: the only place dialects differ. */
export interface StoreDialect {
  readonly name: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  readonly db: Kysely<Database>;
  /** schema holding Kysely's migration tables (PostgreSQL) */
  readonly migrationTableSchema?: string;
  /**
   * Deliver payloads other processes send (no-op where signals stay in-process). `onReconnect`
   * is called after a lost listener connection is back, since payloads may have been missed.
   */
  listen(onPayload: (payload: string) => void, onReconnect: () => void): Promise<void>;
  /** Send payloads to every listener; inside a transaction they are delivered on commit. */
  notify(db: Kysely<Database>, payloads: readonly string[]): Promise<void>;
  /** Bytes the database takes on disk (and its write-ahead log where the node owns one). */
  storageSize(): Promise<StorageSize>;
  /** Gives space freed by deletions back to the file system (SQLite); pages returned. */
  reclaimSpace(): Promise<number>;
  /** A consistent copy of the live database written to `dest` (SQLite); undefined = not possible here. */
  readonly backup?: (dest: string) => Promise<void>;
  close(): Promise<void>;
}

export interface StorageSize {
  database_bytes: number;
  /** the SQLite write-ahead log; null where the database server keeps its own */
  wal_bytes: number | null;
}
