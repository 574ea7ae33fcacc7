import type BetterSqlite3 from 'better-sqlite3';
import type { CompiledQuery as Compiled, DatabaseConnection, Driver, QueryResult } from 'kysely';
import { kysely } from '../kysely-runtime.js';

const raw = (sql: string): Compiled => kysely.CompiledQuery.raw(sql);
import { AsyncMutex } from './async-mutex.js';

const STATEMENT_CACHE_SIZE = 512;

/**
 * A Kysely driver over one better-sqlite3 connection that
 * - caches prepared statements by SQL text (Kysely prepares on every query otherwise),
 * - starts transactions with BEGIN IMMEDIATE (take the write lock up front: no upgrade deadlocks),
 * - serialises through a mutex that every store opened on the same file in this process shares,
 *   so several in-process stores on one file never busy-wait on each other's write lock.
 */
export class SqliteDriver implements Driver {
  readonly #db: BetterSqlite3.Database;
  readonly #mutex: AsyncMutex;
  readonly #connection: SqliteConnection;

  constructor(db: BetterSqlite3.Database, mutex: AsyncMutex) {
    this.#db = db;
    this.#mutex = mutex;
    this.#connection = new SqliteConnection(db);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#mutex.lock();
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
    this.#mutex.unlock();
  }

  async destroy(): Promise<void> {
    this.#connection.clear();
    this.#db.close();
  }
}

class SqliteConnection implements DatabaseConnection {
  readonly #db: BetterSqlite3.Database;
  readonly #cache = new Map<string, BetterSqlite3.Statement>();

  constructor(db: BetterSqlite3.Database) {
    this.#db = db;
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
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not used by the Shoal store');
  }
}
