import type BetterSqlite3 from 'better-sqlite3';
import type { CompiledQuery as Compiled, DatabaseConnection, Driver, QueryResult } from 'kysely';
import { kysely } from '../kysely-runtime.js';

const raw = (sql: string): Compiled => kysely.CompiledQuery.raw(sql);
import type { Mutex } from '../../lib/locks.js';

const STATEMENT_CACHE_SIZE = 512;
/** checkpoint when writes pause this long… */
const CHECKPOINT_IDLE_MS = 200;
/**
 * …or after this many writes without a pause. This bounds the WAL during long bursts: a lifecycle
 * transaction appends ~10 pages (~45 KB) to it, so 20,000 writes let it reach ~280 MB; 1,000
 * keep it under ~25 MB, and a smaller WAL also keeps page lookups through its index cheap.
 */
const CHECKPOINT_EVERY_WRITES = 1_000;
/** after a checkpoint has reset the WAL, SQLite truncates the file to at most this many bytes */
const WAL_SIZE_LIMIT = 32 * 1024 * 1024;

/**
 * A Kysely driver over one better-sqlite3 connection that
 * - caches prepared statements by SQL text (Kysely prepares on every query otherwise),
 * - starts transactions with BEGIN IMMEDIATE (take the write lock up front: no upgrade deadlocks),
 * - serialises through a mutex that every store opened on the same file in this process shares,
 *   so several in-process stores on one file never busy-wait on each other's write lock,
 * - checkpoints the WAL when writes pause instead of inside a commit (SQLite's autocheckpoint
 *   fsyncs in whichever commit crosses the threshold: a 10 ms stall in the middle of a burst).
 */
export class SqliteDriver implements Driver {
  readonly #db: BetterSqlite3.Database;
  readonly #mutex: Mutex;
  readonly #connection: SqliteConnection;

  #writes = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(db: BetterSqlite3.Database, mutex: Mutex) {
    this.#db = db;
    this.#mutex = mutex;
    this.#connection = new SqliteConnection(db, () => this.#wrote());
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
  }

  #wrote(): void {
    this.#writes++;
    if (this.#writes >= CHECKPOINT_EVERY_WRITES) {
      void this.#checkpoint();
      return;
    }
    if (this.#idleTimer) this.#idleTimer.refresh();
    else {
      this.#idleTimer = setTimeout(() => void this.#checkpoint(), CHECKPOINT_IDLE_MS);
      this.#idleTimer.unref();
    }
  }

  async #checkpoint(): Promise<void> {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
    if (this.#writes === 0 || this.#closed) return;
    this.#writes = 0;
    await this.#mutex.acquire();
    try {
      if (!this.#closed) this.#db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // busy or closed: the next pause tries again
    } finally {
      this.#mutex.release();
    }
  }

  /** Runs `fn` on the connection between other statements and transactions (under the file's mutex). */
  async exclusive<T>(fn: (db: BetterSqlite3.Database) => T): Promise<T> {
    await this.#mutex.acquire();
    try {
      return fn(this.#db);
    } finally {
      this.#mutex.release();
    }
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.acquire();
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(raw('begin immediate'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(raw('rollback'));
  }

  async releaseConnection(): Promise<void> {
    this.#mutex.release();
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#connection.clear();
    this.#db.close();
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #db: BetterSqlite3.Database;
  readonly #cache = new Map<string, BetterSqlite3.Statement>();
  readonly #onWrite: () => void;

  constructor(db: BetterSqlite3.Database, onWrite: () => void) {
    this.#db = db;
    this.#onWrite = onWrite;
  }

  #prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.#cache.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      if (this.#cache.size >= STATEMENT_CACHE_SIZE) {
        const oldest = this.#cache.keys().next().value;
        if (oldest !== undefined) this.#cache.delete(oldest);
      }
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  clear(): void {
    this.#cache.clear();
  }

  async executeQuery<R>(compiled: Compiled): Promise<QueryResult<R>> {
    const stmt = this.#prepare(compiled.sql);
    const params = compiled.parameters as unknown[];
    if (stmt.reader) return { rows: stmt.all(params) as R[] };
    const { changes, lastInsertRowid } = stmt.run(params);
    if (changes > 0) this.#onWrite();
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  // eslint-disable-next-line require-yield -- Kysely's Driver wants a generator here; this one only refuses
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used by the Shoal store');
  }
}
