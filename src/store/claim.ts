import type { Kysely } from 'kysely';
import { applicationFromDb } from './rows.js';
import type { Database } from './schema.js';
import type { ApplicationRow, ClaimCandidate, ClaimPick, ClaimRequest, LabelDefinitionRecord } from './store.js';
import { usageOf } from './usage.js';
import { P, type PreparedQueries } from './prepared.js';

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
  prep: PreparedQueries,
): Promise<ApplicationRow[]> {
  await prep.run(
    trx,
    'claim.lock',
    () => {
      const q = trx.selectFrom('nodes').select('name').where('name', '=', P('node'));
      return rowLocks ? q.forUpdate() : q;
    },
    { node: request.node },
  );

  const usage = await usageOf(trx, request.node, prep);
  const picks: ClaimPick[] = [];
  let afterSeq = -1;
  let scanned = 0;
  while (scanned < request.maxScan) {
    const { rows } = await prep.run(
      trx,
      'claim.page',
      () => {
        const q = trx
          .selectFrom('applications as a')
          .innerJoin('labels as l', 'l.uid', 'a.label_uid')
          .select(['a.uid', 'a.seq', 'a.label_uid', 'a.definition_index', 'a.attempts', 'a.owner', 'l.definitions'])
          .where('a.status', '=', 'NEW')
          .where('a.seq', '>', P<number>('after'))
          .orderBy('a.seq')
          .limit(P<number>('limit'));
        return rowLocks ? q.forUpdate('a').skipLocked() : q;
      },
      { after: afterSeq, limit: Math.min(request.pageSize, request.maxScan - scanned) },
    );
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
    const { rows } = await prep.run(
      trx,
      'claim.elect',
      () =>
        trx
          .updateTable('applications')
          .set({
            status: 'ELECTED',
            status_description: P('description'),
            status_at: P('at'),
            node: P('node'),
            driver: P('driver'),
            definition_index: P<number>('definition_index'),
            cpu: P<number>('cpu'),
            ram: P<number>('ram'),
          })
          .where('uid', '=', P('uid'))
          .where('status', '=', 'NEW')
          .returningAll(),
      { ...p, at: request.at, node: request.node },
    );
    const row = rows[0];
    if (row) claimed.push(applicationFromDb(row));
  }
  return claimed;
}
