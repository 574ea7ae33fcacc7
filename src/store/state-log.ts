import type { Kysely } from 'kysely';
import { P, type PreparedQueries } from './prepared.js';
import type { Database } from './schema.js';
import type { StateRow } from './store.js';

const INSERT_CHUNK = 400;

/**
 * Appends state rows with ids from the `events` counter. The counter row is updated last in the
 * transaction and stays locked until commit, so ids are handed out in commit order: a reader who
 * sees id N committed knows every id below N is committed too (no gaps for SSE tails).
 */
export async function appendStates(db: Kysely<Database>, rows: readonly Omit<StateRow, 'id'>[], prep: PreparedQueries): Promise<StateRow[]> {
  if (rows.length === 0) return [];
  const n = rows.length;
  const r = await prep.run(
    db,
    'counter.add',
    () =>
      db
        .updateTable('shoal_counters')
        .set((eb) => ({ value: eb('value', '+', P<number>('n')) }))
        .where('name', '=', 'events')
        .returning('value'),
    { n },
  );
  const first = Number(r.rows[0]!.value) - n + 1;
  const out = rows.map((row, i) => ({ ...row, id: first + i }));
  if (n === 1) {
    const s = out[0]!;
    await prep.run(
      db,
      'states.insert1',
      () =>
        db.insertInto('application_states').values({
          id: P<number>('id'),
          application_uid: P('application_uid'),
          owner: P('owner'),
          status: P('status'),
          description: P('description'),
          created_at: P('created_at'),
        }),
      { ...s },
    );
    return out;
  }
  for (let i = 0; i < out.length; i += INSERT_CHUNK) {
    await db.insertInto('application_states').values(out.slice(i, i + INSERT_CHUNK)).execute();
  }
  return out;
}
