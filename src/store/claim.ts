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
 * 4. move the picks NEW → ELECTED with conditional updates (WHERE status = 'NEW'), one per kind of pick.
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

  return electPicks(trx, request, picks);
}

/** uids per statement: far below SQLite's and PostgreSQL's parameter limits */
const ELECT_CHUNK = 500;

/**
 * NEW → ELECTED for the picks: one conditional UPDATE per group of picks that share their driver,
 * definition, size and description (a burst of one label is one statement, not one per pick).
 * Returned in FIFO (seq) order, as picked.
 */
async function electPicks(trx: Kysely<Database>, request: ClaimRequest, picks: readonly ClaimPick[]): Promise<ApplicationRow[]> {
  const groups = new Map<string, ClaimPick[]>();
  for (const p of picks) {
    const key = JSON.stringify([p.driver, p.definition_index, p.cpu, p.ram, p.description]);
    const g = groups.get(key);
    if (g) g.push(p);
    else groups.set(key, [p]);
  }
  const claimed: ApplicationRow[] = [];
  for (const group of groups.values()) {
    const p = group[0]!;
    for (let i = 0; i < group.length; i += ELECT_CHUNK) {
      const uids = group.slice(i, i + ELECT_CHUNK).map((g) => g.uid);
      const rows = await trx
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
        .where('uid', 'in', uids)
        .where('status', '=', 'NEW')
        .returningAll()
        .execute();
      for (const row of rows) claimed.push(applicationFromDb(row));
    }
  }
  return claimed.sort((a, b) => a.seq - b.seq);
}
