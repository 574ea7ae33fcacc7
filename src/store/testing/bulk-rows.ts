import Database from 'better-sqlite3';
import pg from 'pg';
import { describeStoreUrl } from '../open-store.js';

/**
 * Rows written straight into a test database in one statement each, for tests that need a deep
 * history (100,000 state events or applications) without running 100,000 lifecycles. The store
 * may be open on the same database: SQLite waits for its write lock, PostgreSQL just commits.
 */

/** Runs SQL statements on the test database (one transaction), outside any store. */
export async function rawExec(url: string, statements: readonly string[]): Promise<void> {
  const where = describeStoreUrl(url);
  if (where.kind === 'sqlite') {
    const db = new Database(where.path, { timeout: 30_000 });
    try {
      db.transaction(() => {
        for (const q of statements) db.exec(q);
      })();
    } finally {
      db.close();
    }
    return;
  }
  const c = await pgClient(url);
  try {
    await c.query('begin');
    for (const q of statements) await c.query(q);
    await c.query('commit');
  } finally {
    await c.end();
  }
}

/** Rows of a query on the test database, outside any store. */
export async function rawQuery<T>(url: string, query: string, params: readonly unknown[] = []): Promise<T[]> {
  const where = describeStoreUrl(url);
  if (where.kind === 'sqlite') {
    const db = new Database(where.path, { timeout: 30_000 });
    try {
      return db.prepare(query).all(...params) as T[];
    } finally {
      db.close();
    }
  }
  const c = await pgClient(url);
  try {
    let n = 0;
    return (
      await c.query(
        query.replace(/\?/g, () => `$${++n}`),
        [...params],
      )
    ).rows as T[];
  } finally {
    await c.end();
  }
}

/** A client on the test database's own schema (the `schema` parameter of a test URL). */
export async function pgClient(url: string): Promise<pg.Client> {
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  const c = new pg.Client({ connectionString: u.toString(), ...(schema ? { options: `-c search_path=${schema}` } : {}) });
  await c.connect();
  return c;
}

/** The numbers 1..count as rows `x` of a CTE named `n`, in either dialect. */
export function seriesCte(dialect: 'sqlite' | 'postgres', count: number): string {
  const n = Math.trunc(count);
  return dialect === 'postgres'
    ? `with n(x) as (select generate_series(1, ${n}))`
    : `with recursive n(x) as (select 1 union all select x + 1 from n where x < ${n})`;
}

/**
 * Appends `count` state rows (the event log) after the current last event id, owned in turn by
 * `owners`, and moves the events counter on. Returns the new last event id.
 */
export async function appendStateRows(url: string, count: number, owners: readonly string[]): Promise<number> {
  const dialect = describeStoreUrl(url).kind;
  const [row] = await rawQuery<{ value: number | string }>(url, "select value from shoal_counters where name = 'events'");
  const base = Number(row?.value ?? 0);
  const ownerCase = `case (x % ${owners.length}) ${owners.map((o, i) => `when ${i} then '${o.replace(/'/g, "''")}'`).join(' ')} end`;
  await rawExec(url, [
    `insert into application_states (id, application_uid, owner, status, description, created_at)
       ${seriesCte(dialect, count)}
       select ${base} + x, 'bulk-app-' || (x / 5), ${ownerCase}, 'NEW', 'bulk event ' || x, '2026-01-01T00:00:00.000Z' from n`,
    `update shoal_counters set value = ${base + count} where name = 'events'`,
  ]);
  return base + count;
}
