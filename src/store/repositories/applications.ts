import type { ApplicationStatus } from '../../model/index.js';
import { applyTransitions } from '../apply-transitions.js';
import { CallBatcher } from '../call-batcher.js';
import { claimApplications } from '../claim.js';
import { applicationFromDb, applicationToDb, labelFromDb, stateFromDb } from '../rows.js';
import {
  HOLDING_STATUSES,
  type ApplicationRow,
  type Claimed,
  type ClaimRequest,
  type ListPage,
  type NewApplication,
  type NodeUsage,
  type StateRow,
  type StoreSignal,
  type Transition,
} from '../types.js';
import { usageOf } from '../usage.js';
import type { RepositoryContext } from './context.js';

const LIVE_STATUSES: readonly ApplicationStatus[] = ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE'];
/** calls gathered into one batch at most (creations, transition() calls) */
const BATCH_MAX = 500;
/** application rows per INSERT (18 columns each) */
const INSERT_CHUNK = 200;
/** parsed label definitions kept for claims (labels are immutable) */
const DEFINITION_CACHE_SIZE = 10_000;

type Definitions = ReturnType<typeof labelFromDb>['definitions'];

/** Applications and their append-only state history: every status change appends a state row. */
export interface ApplicationsRepository {
  insertApplication(app: NewApplication, description: string): Promise<Claimed>;
  getApplication(uid: string): Promise<ApplicationRow | undefined>;
  listApplications(query: ListPage & { owner?: string; status?: ApplicationStatus; beforeSeq?: number }): Promise<ApplicationRow[]>;
  /** applications elected by `node` in one of `statuses` */
  applicationsOn(node: string, statuses: readonly ApplicationStatus[]): Promise<ApplicationRow[]>;
  /** one application's states in id order (after `afterId`, at most `limit`; all without a page) */
  listStates(uid: string, page?: { limit: number; afterId?: number }): Promise<StateRow[]>;
  /** Applies the transitions that still hold, in one transaction; null for those that did not. */
  transition(transitions: readonly Transition[], signals?: readonly StoreSignal[]): Promise<(StateRow | null)[]>;
  /** Claims NEW applications for a node, with capacity accounting, in one transaction. */
  claim(request: ClaimRequest, signals?: readonly StoreSignal[]): Promise<Claimed[]>;
  countByStatus(): Promise<Partial<Record<ApplicationStatus, number>>>;
  usage(node: string): Promise<NodeUsage>;
  usageByNode(): Promise<Map<string, { cpu: number; ram: number }>>;
  /** NEW applications whose wait_deadline has passed */
  waitExpired(now: string, limit: number): Promise<ApplicationRow[]>;
  /**
   * If `node`'s heartbeat is older than `staleBefore`, moves its ELECTED applications back to NEW
   * and finishes its DEALLOCATE applications that never got a resource (one transaction, node row
   * locked). Returns how many changed.
   */
  reelectFromDeadNode(node: string, staleBefore: string, description: string, at: string): Promise<number>;
}

export function applicationsRepository({ db, capabilities, tx }: RepositoryContext): ApplicationsRepository {
  const definitionCache = new Map<string, Definitions>();
  const definitions = (labelUid: string, text: string): Definitions => {
    let d = definitionCache.get(labelUid);
    if (d === undefined) {
      d = JSON.parse(text) as Definitions;
      if (definitionCache.size >= DEFINITION_CACHE_SIZE) definitionCache.clear();
      definitionCache.set(labelUid, d);
    }
    return d;
  };

  /**
   * Creations of one turn of the event loop: one counter update hands out their FIFO positions
   * (in the order they were made) and one INSERT writes them.
   */
  const inserts = new CallBatcher<{ app: NewApplication; description: string }, Claimed>(
    (items) =>
      tx(async (trx) => {
        // FIFO position: its own counter (creations are ordered among themselves only)
        const c = await trx
          .updateTable('shoal_counters')
          .set((eb) => ({ value: eb('value', '+', items.length) }))
          .where('name', '=', 'apps')
          .returning('value')
          .executeTakeFirstOrThrow();
        const first = Number(c.value) - items.length + 1;
        const rows: ApplicationRow[] = items.map(({ app, description }, k) => ({
          ...app,
          seq: first + k,
          status: 'NEW',
          status_description: description,
          status_at: app.created_at,
          node: null,
          driver: null,
          definition_index: 0,
          attempts: 0,
          cpu: 0,
          ram: 0,
        }));
        for (let k = 0; k < rows.length; k += INSERT_CHUNK) {
          await trx
            .insertInto('applications')
            .values(rows.slice(k, k + INSERT_CHUNK).map(applicationToDb))
            .execute();
        }
        return {
          states: rows.map((r) => ({
            application_uid: r.uid,
            owner: r.owner,
            status: 'NEW' as const,
            description: r.status_description,
            created_at: r.created_at,
          })),
          signals: [{ kind: 'queue' }],
          finish: (events) => rows.map((app, k) => ({ app, event: events[k]! })),
        };
      }),
    BATCH_MAX,
  );

  /** transition() calls of one turn of the event loop, applied together (see applyTransitions). */
  const transitionCalls = new CallBatcher<{ transitions: readonly Transition[]; signals: readonly StoreSignal[] }, (StateRow | null)[]>(
    (calls) => {
      const all = calls.flatMap((c) => c.transitions);
      const seen = new Set<string>();
      const signals = calls.flatMap((c) => c.signals).filter((s) => !seen.has(JSON.stringify(s)) && seen.add(JSON.stringify(s)));
      return tx(async (trx) => {
        const pending = await applyTransitions(trx, all);
        return {
          states: pending.map((p) => p.row),
          signals,
          finish: (events) => {
            const results: (StateRow | null)[] = new Array<StateRow | null>(all.length).fill(null);
            pending.forEach((p, k) => (results[p.i] = events[k]!));
            let from = 0;
            return calls.map((c) => results.slice(from, (from += c.transitions.length)));
          },
        };
      });
    },
    BATCH_MAX,
  );

  return {
    insertApplication(app, description) {
      return inserts.submit({ app, description });
    },

    async getApplication(uid) {
      const r = await db.selectFrom('applications').selectAll().where('uid', '=', uid).executeTakeFirst();
      return r ? applicationFromDb(r) : undefined;
    },

    async listApplications(query) {
      let q = db.selectFrom('applications').selectAll();
      if (query.owner !== undefined) q = q.where('owner', '=', query.owner);
      if (query.status !== undefined) q = q.where('status', '=', query.status);
      if (query.beforeSeq !== undefined) q = q.where('seq', '<', query.beforeSeq);
      const rows = await q.orderBy('seq', 'desc').limit(query.limit).execute();
      return rows.map(applicationFromDb);
    },

    async applicationsOn(node, statuses) {
      if (statuses.length === 0) return [];
      const rows = await db
        .selectFrom('applications')
        .selectAll()
        .where('node', '=', node)
        .where('status', 'in', statuses)
        .orderBy('seq')
        .execute();
      return rows.map(applicationFromDb);
    },

    async listStates(uid, page) {
      let q = db.selectFrom('application_states').selectAll().where('application_uid', '=', uid);
      if (page?.afterId !== undefined) q = q.where('id', '>', page.afterId);
      q = q.orderBy('id');
      if (page) q = q.limit(page.limit);
      return (await q.execute()).map(stateFromDb);
    },

    async transition(transitions, signals = []) {
      if (transitions.length === 0) return [];
      return transitionCalls.submit({ transitions, signals });
    },

    async claim(request, signals = []) {
      return tx(async (trx) => {
        const claimed = await claimApplications(trx, request, capabilities.rowLocks, definitions);
        return {
          states: claimed.map((c) => ({
            application_uid: c.uid,
            owner: c.owner,
            status: 'ELECTED' as const,
            description: c.status_description,
            created_at: request.at,
          })),
          signals,
          finish: (events) => claimed.map((app, k) => ({ app, event: events[k]! })),
        };
      });
    },

    async countByStatus() {
      const rows = await db
        .selectFrom('applications')
        .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
        .where('status', 'in', LIVE_STATUSES)
        .groupBy('status')
        .execute();
      const out: Partial<Record<ApplicationStatus, number>> = {};
      for (const r of rows) out[r.status as ApplicationStatus] = Number(r.n);
      return out;
    },

    async usage(node) {
      return usageOf(db, node);
    },

    async usageByNode() {
      const rows = await db
        .selectFrom('applications')
        .select(['node', (eb) => eb.fn.sum<number>('cpu').as('cpu'), (eb) => eb.fn.sum<number>('ram').as('ram')])
        .where('status', 'in', HOLDING_STATUSES)
        .groupBy('node')
        .execute();
      const out = new Map<string, { cpu: number; ram: number }>();
      for (const r of rows) if (r.node !== null) out.set(r.node, { cpu: Number(r.cpu ?? 0), ram: Number(r.ram ?? 0) });
      return out;
    },

    async waitExpired(now, limit) {
      const rows = await db
        .selectFrom('applications')
        .selectAll()
        .where('status', '=', 'NEW')
        .where('wait_deadline', 'is not', null)
        .where('wait_deadline', '<=', now)
        .orderBy('seq')
        .limit(limit)
        .execute();
      return rows.map(applicationFromDb);
    },

    async reelectFromDeadNode(node, staleBefore, description, at) {
      return tx(async (trx) => {
        let q = trx.selectFrom('nodes').select(['name', 'heartbeat_at']).where('name', '=', node);
        if (capabilities.rowLocks) q = q.forUpdate();
        const n = await q.executeTakeFirst();
        if (!n || n.heartbeat_at >= staleBefore) return { finish: () => 0 };
        const moved = await trx
          .updateTable('applications')
          .set({ status: 'NEW', status_description: description, status_at: at, node: null, driver: null, cpu: 0, ram: 0 })
          .where('node', '=', node)
          .where('status', '=', 'ELECTED')
          .returning(['uid', 'owner'])
          .execute();
        // deallocations requested while it was allocating: nothing was recorded, nothing to wait for
        const ended = `deallocated; node ${node} stopped answering before its allocation completed`;
        const finished = await trx
          .updateTable('applications')
          .set({ status: 'DEALLOCATED', status_description: ended, status_at: at, cpu: 0, ram: 0 })
          .where('node', '=', node)
          .where('status', '=', 'DEALLOCATE')
          .where((eb) =>
            eb.not(
              eb.exists(eb.selectFrom('resources as r').select('r.application_uid').whereRef('r.application_uid', '=', 'applications.uid')),
            ),
          )
          .returning(['uid', 'owner'])
          .execute();
        const byUid = (a: { uid: string }, b: { uid: string }) => (a.uid < b.uid ? -1 : 1);
        return {
          states: [
            ...moved
              .sort(byUid)
              .map((m) => ({ application_uid: m.uid, owner: m.owner, status: 'NEW' as const, description, created_at: at })),
            ...finished
              .sort(byUid)
              .map((m) => ({ application_uid: m.uid, owner: m.owner, status: 'DEALLOCATED' as const, description: ended, created_at: at })),
          ],
          signals: [{ kind: 'queue' }],
          finish: () => moved.length + finished.length,
        };
      });
    },
  };
}
