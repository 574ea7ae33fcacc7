import type { Kysely } from 'kysely';
import type { Database } from './schema.js';
import type { StateRow } from './types.js';

const INSERT_CHUNK = 400;

/**
 * Appends state rows with ids from the `events` counter. The counter row is updated last in the
 * transaction and stays locked until commit, so ids are handed out in commit order: a reader who
 * sees id N committed knows every id below N is committed too (no gaps for SSE tails).
 */
export async function appendStates(db: Kysely<Database>, rows: readonly Omit<StateRow, 'id'>[]): Promise<StateRow[]> {
  if (rows.length === 0) return [];
  const n = rows.length;
  const r = await db
    .updateTable('shoal_counters')
    .set((eb) => ({ value: eb('value', '+', n) }))
    .where('name', '=', 'events')
    .returning('value')
    .executeTakeFirstOrThrow();
  const first = Number(r.value) - n + 1;
  const out = rows.map((row, i) => ({ ...row, id: first + i }));
  for (let i = 0; i < out.length; i += INSERT_CHUNK) {
    await db
      .insertInto('application_states')
      .values(out.slice(i, i + INSERT_CHUNK))
      .execute();
  }
  return out;
}
