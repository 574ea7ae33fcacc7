import type { Kysely } from 'kysely';
import { applicationFromDb } from './rows.js';
import type { Database } from './schema.js';
import type { ApplicationRow, ClaimCandidate, ClaimPick, ClaimRequest, LabelDefinitionRecord } from './types.js';
import { usageOf } from './usage.js';

/**
 * The body of the claim transaction:
 * 1. lock the node row (FOR UPDATE where rows lock; SQLite's BEGIN IMMEDIATE already serialises writers),
 * 2. sum what the node holds (in total and per driver instance),
 * 3. hand NEW applications to `choose` page by page in FIFO order (SKIP LOCKED: rows another node is
 *    claiming right now are passed over, never waited for),
 * 4. move each pick NEW → ELECTED with a conditional update (WHERE status = 'NEW').
 * The caller appends the state rows in the same transaction.
 */
export async function claimApplications(
  trx: Kysely<Database>,
  request: ClaimRequest,
  rowLocks: boolean,
  definitionsOf: (labelUid: string, text: string) => readonly LabelDefinitionRecord[],
): Promise<ApplicationRow[]> {
  const lock = trx.selectFrom('nodes').select('name').where('name', '=', request.node);
  await (rowLocks ? lock.forUpdate() : lock).execute();

  const usage = await usageOf(trx, request.node);
  const picks: ClaimPick[] = [];
  let afterSeq = -1;
  let scanned = 0;
  while (scanned < request.maxScan) {
    const page = trx
      .selectFrom('applications as a')
      .innerJoin('labels as l', 'l.uid', 'a.label_uid')
      .select(['a.uid', 'a.seq', 'a.label_uid', 'a.definition_index', 'a.attempts', 'a.owner', 'l.definitions'])
      .where('a.status', '=', 'NEW')
      .where('a.seq', '>', afterSeq)
      .orderBy('a.seq')
      .limit(Math.min(request.pageSize, request.maxScan - scanned));
    const rows = await (rowLocks ? page.forUpdate('a').skipLocked() : page).execute();
    if (rows.length === 0) break;
    scanned += rows.length;
    afterSeq = Number(rows[rows.length - 1]!.seq);
    const candidates: ClaimCandidate[] = rows.map((r) => ({
      uid: r.uid,
      seq: Number(r.seq),
      label_uid: r.label_uid,
      definitions: definitionsOf(r.label_uid, r.definitions),
      definition_index: Number(r.definition_index),
      attempts: Number(r.attempts),
      owner: r.owner,
    }));
    const choice = request.choose(candidates, usage);
    picks.push(...choice.picks);
    if (!choice.more || rows.length < request.pageSize) break;
  }

  const claimed: ApplicationRow[] = [];
  for (const p of picks) {
    const row = await trx
      .updateTable('applications')
      .set({
        status: 'ELECTED',
        status_description: p.description,
        status_at: request.at,
        node: request.node,
        driver: p.driver,
        definition_index: p.definition_index,
        cpu: p.cpu,
        ram: p.ram,
      })
      .where('uid', '=', p.uid)
      .where('status', '=', 'NEW')
      .returningAll()
      .executeTakeFirst();
    if (row) claimed.push(applicationFromDb(row));
  }
  return claimed;
}
