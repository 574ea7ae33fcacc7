import type { Kysely } from 'kysely';
import { kysely } from './kysely-runtime.js';
import type { Database } from './schema.js';

const { sql } = kysely;

/**
 * The database server's clock as an ISO 8601 UTC string (the format of `Date#toISOString()`, so
 * it compares with the stored times as text). Nodes' own clocks may be skewed; whether a node is
 * silent is judged by this one clock that every node shares.
 */
export function dbNowExpression(dialect: 'sqlite' | 'postgres') {
  return dialect === 'postgres'
    ? sql<string>`to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
    : sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`;
}

/** Reads the database's clock (see dbNowExpression). */
export async function readDbNow(db: Kysely<Database>, dialect: 'sqlite' | 'postgres'): Promise<string> {
  const r = await sql<{ now: string }>`select ${dbNowExpression(dialect)} as now`.execute(db);
  const now = r.rows[0]?.now;
  if (now === undefined) throw new Error('the database did not tell its time');
  return now;
}
