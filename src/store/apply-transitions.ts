import type { Kysely } from 'kysely';
import { resourceToDb } from './rows.js';
import type { Database } from './schema.js';
import type { StateRow, Transition } from './types.js';

/** uids per statement: far below SQLite's and PostgreSQL's parameter limits */
const CHUNK = 500;
/** resource rows per INSERT (10 columns each) */
const RESOURCE_CHUNK = 200;

/** A transition that held: its index in the batch and the state row to append. */
export interface Applied {
  i: number;
  row: Omit<StateRow, 'id'>;
}

/** Transitions that share everything but their application (and time) are applied by one statement. */
function shapeOf(t: Transition): string {
  return JSON.stringify([
    t.to,
    [...t.from].sort(),
    t.description,
    t.onlyNode ?? null,
    t.ifStatusAt ?? null,
    t.set ?? null,
    t.deleteResource === true,
    t.insertResource !== undefined,
    t.failPendingTasks ?? null,
  ]);
}

function byUid(a: { t: Transition; i: number }, b: { t: Transition; i: number }): number {
  return a.t.uid < b.t.uid ? -1 : a.t.uid > b.t.uid ? 1 : a.i - b.i;
}

/**
 * Applies the transitions that still hold (conditional on their `from` status and node), with
 * their resource and task changes, and returns the state rows to append, in uid order.
 *
 * Transitions of the same shape (target, source statuses, description, patch, side effects) are
 * applied together: one UPDATE … WHERE uid IN (…) RETURNING per shape and chunk, then one DELETE,
 * one INSERT and one task UPDATE for the ones that held; their status_at is the latest `at` of the
 * group (the change is recorded when the group commits). A batch naming one application twice is
 * applied one transition at a time, in uid order and then submission order (the later one sees the
 * earlier one's status), as are groups of one.
 */
export async function applyTransitions(trx: Kysely<Database>, transitions: readonly Transition[]): Promise<Applied[]> {
  // a stable lock order (by uid) so two batches never deadlock each other
  const order = transitions.map((t, i) => ({ t, i })).sort(byUid);
  const unique = new Set(transitions.map((t) => t.uid)).size === transitions.length;
  const applied: Applied[] = [];
  if (!unique) {
    for (const o of order) applied.push(...(await applyGroup(trx, [o])));
    return applied;
  }
  const groups = new Map<string, { t: Transition; i: number }[]>();
  for (const o of order) {
    const key = shapeOf(o.t);
    const g = groups.get(key);
    if (g) g.push(o);
    else groups.set(key, [o]);
  }
  for (const g of groups.values()) {
    for (let k = 0; k < g.length; k += CHUNK) applied.push(...(await applyGroup(trx, g.slice(k, k + CHUNK))));
  }
  const rank = new Map(order.map((o, k) => [o.i, k]));
  return applied.sort((a, b) => rank.get(a.i)! - rank.get(b.i)!);
}

/** One group of same-shaped transitions (uid order, each uid once). */
async function applyGroup(trx: Kysely<Database>, group: readonly { t: Transition; i: number }[]): Promise<Applied[]> {
  const t = group[0]!.t;
  const at = group.reduce((max, o) => (o.t.at > max ? o.t.at : max), t.at);
  const uids = group.map((o) => o.t.uid);
  let q = trx
    .updateTable('applications')
    .set({ ...t.set, status: t.to, status_description: t.description, status_at: at })
    .where('status', 'in', t.from);
  q = uids.length === 1 ? q.where('uid', '=', uids[0]!) : q.where('uid', 'in', uids);
  if (t.onlyNode !== undefined) q = q.where('node', '=', t.onlyNode);
  if (t.ifStatusAt !== undefined) q = q.where('status_at', '=', t.ifStatusAt);
  const hits = await q.returning(['uid', 'owner']).execute();
  if (hits.length === 0) return [];
  const owners = new Map(hits.map((h) => [h.uid, h.owner]));
  const held = group.filter((o) => owners.has(o.t.uid));
  const heldUids = held.map((o) => o.t.uid);
  const one = heldUids.length === 1;
  if (t.deleteResource) {
    const d = trx.deleteFrom('resources');
    await (one ? d.where('application_uid', '=', heldUids[0]!) : d.where('application_uid', 'in', heldUids)).execute();
  }
  if (t.insertResource) {
    const rows = held.map((o) => resourceToDb(o.t.insertResource!));
    for (let k = 0; k < rows.length; k += RESOURCE_CHUNK) {
      await trx
        .insertInto('resources')
        .values(rows.slice(k, k + RESOURCE_CHUNK))
        .execute();
    }
  }
  if (t.failPendingTasks !== undefined) {
    const u = trx
      .updateTable('tasks')
      .set({ status: 'FAILED', result: t.failPendingTasks, updated_at: at })
      .where('status', '=', 'PENDING');
    await (one ? u.where('application_uid', '=', heldUids[0]!) : u.where('application_uid', 'in', heldUids)).execute();
  }
  return held.map((o) => ({
    i: o.i,
    row: { application_uid: o.t.uid, owner: owners.get(o.t.uid)!, status: t.to, description: t.description, created_at: at },
  }));
}
