import type { Kysely } from 'kysely';
import { kysely } from './kysely-runtime.js';
import type { ApplicationStatus } from '../model/index.js';
import { claimApplications } from './claim.js';
import type { StoreDialect } from './dialect.js';
import { ConflictError, LabelNameOwnedError, StoreError, isUniqueViolation } from './errors.js';
import { migrationProvider } from './migrations/index.js';
import {
  applicationFromDb,
  labelFromDb,
  nodeFromDb,
  nodeToDb,
  resourceFromDb,
  resourceToDb,
  stateFromDb,
  taskFromDb,
  taskToDb,
  userFromDb,
} from './rows.js';
import type { Database } from './schema.js';
import { Transactions, type TxBody } from './transactions.js';
import { P, PreparedQueries } from './prepared.js';
import { usageOf } from './usage.js';
import {
  HOLDING_STATUSES,
  type ApplicationRow,
  type Claimed,
  type ClaimRequest,
  type LabelNameRow,
  type LabelRow,
  type ListPage,
  type NewApplication,
  type NewLabel,
  type NodeRow,
  type NodeUsage,
  type ResourceRow,
  type StateRow,
  type Store,
  type StoreCapabilities,
  type StoreSignal,
  type TaskRow,
  type TaskStatus,
  type TaskWhen,
  type Transition,
  type UserRow,
} from './store.js';

/** attempts at taking the next label version when another node takes it at the same time */
const VERSION_RETRIES = 8;
const LIVE_STATUSES: readonly ApplicationStatus[] = ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE'];

function isSignal(v: unknown): v is StoreSignal {
  if (typeof v !== 'object' || v === null) return false;
  const k = (v as { kind?: unknown }).kind;
  return k === 'queue' || k === 'work' || k === 'events' || k === 'nodes' || k === 'resync';
}

/** The Store on Kysely: one implementation for SQLite and PostgreSQL. */
export class KyselyStore implements Store {
  readonly dialect: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  readonly #d: StoreDialect;
  readonly #db: Kysely<Database>;
  readonly #listeners = new Set<(s: StoreSignal) => void>();
  readonly #prep = new PreparedQueries();
  readonly #txs: Transactions;
  #closed = false;

  private constructor(dialect: StoreDialect) {
    this.#d = dialect;
    this.#db = dialect.db;
    this.dialect = dialect.name;
    this.capabilities = dialect.capabilities;
    this.#txs = new Transactions(dialect, this.#prep, (signals) => this.#emit(signals));
  }

  /** Brings the schema up to date and starts listening for other nodes' signals. */
  static async open(dialect: StoreDialect): Promise<KyselyStore> {
    const store = new KyselyStore(dialect);
    try {
      const migrator = new kysely.Migrator({
        db: dialect.db,
        provider: migrationProvider,
        ...(dialect.migrationTableSchema ? { migrationTableSchema: dialect.migrationTableSchema } : {}),
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName;
        throw new StoreError('MIGRATION', `database migration ${failed ?? ''} failed: ${(error as Error).message ?? String(error)}`, {
          cause: error,
        });
      }
      await dialect.listen(
        (payload) => store.#onPayload(payload),
        () => store.#emit([{ kind: 'resync' }]),
      );
    } catch (err) {
      await dialect.close().catch(() => {});
      throw err;
    }
    return store;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    await this.#d.close();
  }

  // ── signals ─────────────────────────────────────────────────────────────

  onSignal(listener: (signal: StoreSignal) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async notify(signals: readonly StoreSignal[]): Promise<void> {
    if (signals.length === 0) return;
    if (this.capabilities.crossProcessSignals) await this.#d.notify(this.#db, signals.map((s) => JSON.stringify(s)));
    this.#emit(signals);
  }

  #onPayload(payload: string): void {
    let v: unknown;
    try {
      v = JSON.parse(payload);
    } catch {
      return;
    }
    if (isSignal(v)) this.#emit([v]);
  }

  #emit(signals: readonly StoreSignal[]): void {
    for (const s of signals) {
      for (const l of this.#listeners) {
        try {
          l(s);
        } catch {
          // a listener's failure is its own business
        }
      }
    }
  }

  /** Runs a transaction body (see transactions.ts). */
  #tx<T>(fn: TxBody<T>): Promise<T> {
    return this.#txs.run(fn);
  }

  // ── users ───────────────────────────────────────────────────────────────

  async countUsers(): Promise<number> {
    const r = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insertUser(row: UserRow): Promise<void> {
    try {
      await this.#db.insertInto('users').values(row).execute();
    } catch (err) {
      if (isUniqueViolation(err)) throw new ConflictError(`user "${row.name}" already exists`, { cause: err });
      throw err;
    }
  }

  async getUser(name: string): Promise<UserRow | undefined> {
    const r = await this.#db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? userFromDb(r) : undefined;
  }

  async getUserByTokenId(tokenId: string): Promise<UserRow | undefined> {
    const r = await this.#db.selectFrom('users').selectAll().where('token_id', '=', tokenId).executeTakeFirst();
    return r ? userFromDb(r) : undefined;
  }

  async listUsers(page: ListPage & { after?: string }): Promise<UserRow[]> {
    let q = this.#db.selectFrom('users').selectAll().orderBy('name').limit(page.limit);
    if (page.after !== undefined) q = q.where('name', '>', page.after);
    return (await q.execute()).map(userFromDb);
  }

  async deleteUser(name: string): Promise<boolean> {
    const r = await this.#db.deleteFrom('users').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // ── labels ──────────────────────────────────────────────────────────────

  async insertLabel(label: NewLabel, options: { asAdmin?: boolean } = {}): Promise<LabelRow> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.#tx(async (trx) => {
          // claim the name if nobody has it; then read (and on PostgreSQL lock) its owner. A
          // concurrent first publisher waits on the name's key and then finds it taken.
          await trx
            .insertInto('label_names')
            .values({ name: label.name, owner: label.owner, created_at: label.created_at })
            .onConflict((oc) => oc.column('name').doNothing())
            .execute();
          let q = trx.selectFrom('label_names').select('owner').where('name', '=', label.name);
          if (this.capabilities.rowLocks) q = q.forUpdate();
          const owner = (await q.executeTakeFirstOrThrow()).owner;
          if (owner !== label.owner && !options.asAdmin) throw new LabelNameOwnedError(label.name, owner);
          const r = await trx
            .selectFrom('labels')
            .select((eb) => eb.fn.max<number>('version').as('v'))
            .where('name', '=', label.name)
            .executeTakeFirst();
          const version = Number(r?.v ?? 0) + 1;
          const row = {
            ...label,
            owner,
            version,
            definitions: JSON.stringify(label.definitions),
            metadata: JSON.stringify(label.metadata),
            deleted_at: null,
            published_by: owner === label.owner ? null : label.owner,
          };
          await trx.insertInto('labels').values(row).execute();
          return { finish: () => ({ ...label, owner, version, deleted_at: null, published_by: label.owner }) };
        });
      } catch (err) {
        // two nodes creating the same name at once: the loser takes the next version
        if (attempt < VERSION_RETRIES && isUniqueViolation(err)) continue;
        throw err;
      }
    }
  }

  async getLabelName(name: string): Promise<LabelNameRow | undefined> {
    return this.#db.selectFrom('label_names').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async setLabelNameOwner(name: string, owner: string, at: string): Promise<LabelNameRow> {
    return this.#tx(async (trx) => {
      await trx
        .insertInto('label_names')
        .values({ name, owner, created_at: at })
        .onConflict((oc) => oc.column('name').doUpdateSet({ owner }))
        .execute();
      const row = await trx.selectFrom('label_names').selectAll().where('name', '=', name).executeTakeFirstOrThrow();
      return { finish: () => row };
    });
  }

  async getLabel(uid: string): Promise<LabelRow | undefined> {
    const r = await this.#db.selectFrom('labels').selectAll().where('uid', '=', uid).executeTakeFirst();
    return r ? labelFromDb(r) : undefined;
  }

  async findLabel(name: string, version: number | 'latest'): Promise<LabelRow | undefined> {
    const db = this.#db;
    const base = () => db.selectFrom('labels').selectAll().where('name', '=', P('name')).where('deleted_at', 'is', null);
    const res =
      version === 'latest'
        ? await this.#prep.run(db, 'label.latest', () => base().orderBy('version', 'desc').limit(1), { name })
        : await this.#prep.run(db, 'label.version', () => base().where('version', '=', P<number>('version')), { name, version });
    const r = res.rows[0];
    return r ? labelFromDb(r) : undefined;
  }

  async listLabels(
    query: ListPage & { name?: string; version?: number | 'latest'; after?: { name: string; version: number } },
  ): Promise<LabelRow[]> {
    let q = this.#db.selectFrom('labels as l').selectAll('l').where('l.deleted_at', 'is', null);
    if (query.name !== undefined) q = q.where('l.name', '=', query.name);
    if (query.version === 'latest') {
      q = q.where('l.version', '=', (eb) =>
        eb
          .selectFrom('labels as m')
          .select((e) => e.fn.max<number>('m.version').as('v'))
          .whereRef('m.name', '=', 'l.name')
          .where('m.deleted_at', 'is', null),
      );
    } else if (typeof query.version === 'number') {
      q = q.where('l.version', '=', query.version);
    }
    const after = query.after;
    if (after) {
      q = q.where((eb) =>
        eb.or([eb('l.name', '>', after.name), eb.and([eb('l.name', '=', after.name), eb('l.version', '>', after.version)])]),
      );
    }
    const rows = await q.orderBy('l.name').orderBy('l.version').limit(query.limit).execute();
    return rows.map(labelFromDb);
  }

  async deleteLabel(uid: string, at: string): Promise<boolean> {
    const r = await this.#db
      .updateTable('labels')
      .set({ deleted_at: at })
      .where('uid', '=', uid)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // ── applications ────────────────────────────────────────────────────────

  async insertApplication(app: NewApplication, description: string): Promise<Claimed> {
    return this.#tx(async (trx) => {
      // FIFO position: its own counter (creations are ordered among themselves only)
      const c = await this.#prep.run(
        trx,
        'counter.apps',
        () =>
          trx
            .updateTable('shoal_counters')
            .set((eb) => ({ value: eb('value', '+', 1) }))
            .where('name', '=', 'apps')
            .returning('value'),
      );
      const row: ApplicationRow = {
        ...app,
        seq: Number(c.rows[0]!.value),
        status: 'NEW',
        status_description: description,
        status_at: app.created_at,
        node: null,
        driver: null,
        definition_index: 0,
        attempts: 0,
        cpu: 0,
        ram: 0,
      };
      const v = { ...row, metadata: JSON.stringify(row.metadata) };
      await this.#prep.run(
        trx,
        'app.insert',
        () => trx.insertInto('applications').values(Object.fromEntries(Object.keys(v).map((k) => [k, P(k)])) as unknown as typeof v),
        v,
      );
      return {
        states: [{ application_uid: app.uid, owner: app.owner, status: 'NEW', description, created_at: app.created_at }],
        signals: [{ kind: 'queue' }],
        finish: (events) => ({ app: row, event: events[0]! }),
      };
    });
  }

  async getApplication(uid: string): Promise<ApplicationRow | undefined> {
    const db = this.#db;
    const r = (await this.#prep.run(db, 'app.get', () => db.selectFrom('applications').selectAll().where('uid', '=', P('uid')), { uid })).rows[0];
    return r ? applicationFromDb(r) : undefined;
  }

  async listApplications(
    query: ListPage & { owner?: string; status?: ApplicationStatus; beforeSeq?: number },
  ): Promise<ApplicationRow[]> {
    let q = this.#db.selectFrom('applications').selectAll();
    if (query.owner !== undefined) q = q.where('owner', '=', query.owner);
    if (query.status !== undefined) q = q.where('status', '=', query.status);
    if (query.beforeSeq !== undefined) q = q.where('seq', '<', query.beforeSeq);
    const rows = await q.orderBy('seq', 'desc').limit(query.limit).execute();
    return rows.map(applicationFromDb);
  }

  async applicationsOn(node: string, statuses: readonly ApplicationStatus[]): Promise<ApplicationRow[]> {
    if (statuses.length === 0) return [];
    const rows = await this.#db
      .selectFrom('applications')
      .selectAll()
      .where('node', '=', node)
      .where('status', 'in', statuses)
      .orderBy('seq')
      .execute();
    return rows.map(applicationFromDb);
  }

  async listStates(uid: string): Promise<StateRow[]> {
    const rows = await this.#db
      .selectFrom('application_states')
      .selectAll()
      .where('application_uid', '=', uid)
      .orderBy('id')
      .execute();
    return rows.map(stateFromDb);
  }

  async transition(transitions: readonly Transition[], signals: readonly StoreSignal[] = []): Promise<(StateRow | null)[]> {
    if (transitions.length === 0) return [];
    // a stable lock order (by uid) so two batches never deadlock each other
    const order = transitions.map((t, i) => ({ t, i })).sort((a, b) => (a.t.uid < b.t.uid ? -1 : a.t.uid > b.t.uid ? 1 : a.i - b.i));
    return this.#tx(async (trx) => {
      const pending: { i: number; row: Omit<StateRow, 'id'> }[] = [];
      for (const { t, i } of order) {
        const setKeys = Object.keys(t.set ?? {}).sort();
        const key = `tr:${t.from.join(',')}:${setKeys.join(',')}:${t.onlyNode === undefined ? '' : 'n'}`;
        const params: Record<string, unknown> = {
          uid: t.uid,
          to: t.to,
          description: t.description,
          at: t.at,
          node: t.onlyNode ?? null,
        };
        for (const k of setKeys) params[`s_${k}`] = (t.set as Record<string, unknown>)[k];
        const res = await this.#prep.run(
          trx,
          key,
          () => {
            const set: Record<string, unknown> = { status: P('to'), status_description: P('description'), status_at: P('at') };
            for (const k of setKeys) set[k] = P(`s_${k}`);
            let q = trx
              .updateTable('applications')
              .set(set)
              .where('uid', '=', P('uid'))
              .where('status', 'in', t.from);
            if (t.onlyNode !== undefined) q = q.where('node', '=', P('node'));
            return q.returning('owner');
          },
          params,
        );
        const hit = res.rows[0];
        if (!hit) continue;
        if (t.deleteResource) {
          await this.#prep.run(trx, 'res.delete', () => trx.deleteFrom('resources').where('application_uid', '=', P('uid')), { uid: t.uid });
        }
        if (t.insertResource) {
          const v = resourceToDb(t.insertResource);
          await this.#prep.run(
            trx,
            'res.insert',
            () => trx.insertInto('resources').values(Object.fromEntries(Object.keys(v).map((k) => [k, P(k)])) as unknown as typeof v),
            { ...v },
          );
        }
        if (t.failPendingTasks !== undefined) {
          await this.#prep.run(
            trx,
            'tasks.failPending',
            () =>
              trx
                .updateTable('tasks')
                .set({ status: 'FAILED', result: P('result'), updated_at: P('at') })
                .where('application_uid', '=', P('uid'))
                .where('status', '=', 'PENDING'),
            { result: t.failPendingTasks, at: t.at, uid: t.uid },
          );
        }
        pending.push({
          i,
          row: { application_uid: t.uid, owner: hit.owner, status: t.to, description: t.description, created_at: t.at },
        });
      }
      return {
        states: pending.map((p) => p.row),
        signals,
        finish: (events) => {
          const results: (StateRow | null)[] = new Array<StateRow | null>(transitions.length).fill(null);
          pending.forEach((p, k) => (results[p.i] = events[k]!));
          return results;
        },
      };
    });
  }

  async claim(request: ClaimRequest, signals: readonly StoreSignal[] = []): Promise<Claimed[]> {
    return this.#tx(async (trx) => {
      const claimed = await claimApplications(trx, request, this.capabilities.rowLocks, (uid, text) => this.#definitions(uid, text), this.#prep);
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
  }

  readonly #definitionCache = new Map<string, ReturnType<typeof labelFromDb>['definitions']>();

  #definitions(labelUid: string, text: string): ReturnType<typeof labelFromDb>['definitions'] {
    let d = this.#definitionCache.get(labelUid);
    if (d === undefined) {
      d = JSON.parse(text) as ReturnType<typeof labelFromDb>['definitions'];
      if (this.#definitionCache.size >= 10_000) this.#definitionCache.clear();
      this.#definitionCache.set(labelUid, d);
    }
    return d;
  }

  async countByStatus(): Promise<Partial<Record<ApplicationStatus, number>>> {
    const rows = await this.#db
      .selectFrom('applications')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', 'in', LIVE_STATUSES)
      .groupBy('status')
      .execute();
    const out: Partial<Record<ApplicationStatus, number>> = {};
    for (const r of rows) out[r.status as ApplicationStatus] = Number(r.n);
    return out;
  }

  async usage(node: string): Promise<NodeUsage> {
    return usageOf(this.#db, node, this.#prep);
  }

  async usageByNode(): Promise<Map<string, { cpu: number; ram: number }>> {
    const rows = await this.#db
      .selectFrom('applications')
      .select(['node', (eb) => eb.fn.sum<number>('cpu').as('cpu'), (eb) => eb.fn.sum<number>('ram').as('ram')])
      .where('status', 'in', HOLDING_STATUSES)
      .groupBy('node')
      .execute();
    const out = new Map<string, { cpu: number; ram: number }>();
    for (const r of rows) if (r.node !== null) out.set(r.node, { cpu: Number(r.cpu ?? 0), ram: Number(r.ram ?? 0) });
    return out;
  }

  async waitExpired(now: string, limit: number): Promise<ApplicationRow[]> {
    const rows = await this.#db
      .selectFrom('applications')
      .selectAll()
      .where('status', '=', 'NEW')
      .where('wait_deadline', 'is not', null)
      .where('wait_deadline', '<=', now)
      .orderBy('seq')
      .limit(limit)
      .execute();
    return rows.map(applicationFromDb);
  }

  async reelectFromDeadNode(node: string, staleBefore: string, description: string, at: string): Promise<number> {
    return this.#tx(async (trx) => {
      let q = trx.selectFrom('nodes').select(['name', 'heartbeat_at']).where('name', '=', node);
      if (this.capabilities.rowLocks) q = q.forUpdate();
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
        .where((eb) => eb.not(eb.exists(eb.selectFrom('resources as r').select('r.application_uid').whereRef('r.application_uid', '=', 'applications.uid'))))
        .returning(['uid', 'owner'])
        .execute();
      const byUid = (a: { uid: string }, b: { uid: string }) => (a.uid < b.uid ? -1 : 1);
      return {
        states: [
          ...moved.sort(byUid).map((m) => ({ application_uid: m.uid, owner: m.owner, status: 'NEW' as const, description, created_at: at })),
          ...finished.sort(byUid).map((m) => ({ application_uid: m.uid, owner: m.owner, status: 'DEALLOCATED' as const, description: ended, created_at: at })),
        ],
        signals: [{ kind: 'queue' }],
        finish: () => moved.length + finished.length,
      };
    });
  }

  // ── resources ───────────────────────────────────────────────────────────

  async getResource(applicationUid: string): Promise<ResourceRow | undefined> {
    const db = this.#db;
    const res = await this.#prep.run(db, 'res.get', () => db.selectFrom('resources').selectAll().where('application_uid', '=', P('uid')), {
      uid: applicationUid,
    });
    const r = res.rows[0];
    return r ? resourceFromDb(r) : undefined;
  }

  async listResources(query: ListPage & { owner?: string; node?: string; after?: string }): Promise<ResourceRow[]> {
    let q = this.#db.selectFrom('resources').selectAll();
    if (query.owner !== undefined) q = q.where('owner', '=', query.owner);
    if (query.node !== undefined) q = q.where('node', '=', query.node);
    if (query.after !== undefined) q = q.where('application_uid', '>', query.after);
    const rows = await q.orderBy('application_uid').limit(query.limit).execute();
    return rows.map(resourceFromDb);
  }

  async expiredResources(node: string, now: string, limit: number): Promise<ResourceRow[]> {
    const rows = await this.#db
      .selectFrom('resources as r')
      .innerJoin('applications as a', 'a.uid', 'r.application_uid')
      .selectAll('r')
      .where('r.node', '=', node)
      .where('r.expires_at', 'is not', null)
      .where('r.expires_at', '<=', now)
      .where('a.status', '=', 'ALLOCATED')
      .orderBy('r.expires_at')
      .limit(limit)
      .execute();
    return rows.map(resourceFromDb);
  }

  async knownHwaddrs(): Promise<Set<string>> {
    const rows = await this.#db.selectFrom('resources').select('hwaddr').execute();
    return new Set(rows.map((r) => r.hwaddr));
  }

  // ── events ──────────────────────────────────────────────────────────────

  async maxEventId(): Promise<number> {
    const db = this.#db;
    const res = await this.#prep.run(db, 'counter.get', () => db.selectFrom('shoal_counters').select('value').where('name', '=', 'events'));
    return Number(res.rows[0]!.value);
  }

  async eventsAfter(afterId: number, query: { limit: number; owner?: string; upTo?: number }): Promise<StateRow[]> {
    const db = this.#db;
    const key = `events:${query.owner === undefined ? '' : 'o'}:${query.upTo === undefined ? '' : 'u'}`;
    const res = await this.#prep.run(
      db,
      key,
      () => {
        let q = db.selectFrom('application_states').selectAll().where('id', '>', P<number>('after'));
        if (query.owner !== undefined) q = q.where('owner', '=', P('owner'));
        if (query.upTo !== undefined) q = q.where('id', '<=', P<number>('upTo'));
        return q.orderBy('id').limit(P<number>('limit'));
      },
      { after: afterId, owner: query.owner, upTo: query.upTo, limit: query.limit },
    );
    return res.rows.map(stateFromDb);
  }

  // ── tasks ───────────────────────────────────────────────────────────────

  async insertTask(row: TaskRow, signals: readonly StoreSignal[] = []): Promise<void> {
    await this.#db.insertInto('tasks').values(taskToDb(row)).execute();
    await this.notify(signals);
  }

  async getTask(uid: string): Promise<TaskRow | undefined> {
    const r = await this.#db.selectFrom('tasks').selectAll().where('uid', '=', uid).executeTakeFirst();
    return r ? taskFromDb(r) : undefined;
  }

  async listTasks(applicationUid: string): Promise<TaskRow[]> {
    const rows = await this.#db
      .selectFrom('tasks')
      .selectAll()
      .where('application_uid', '=', applicationUid)
      .orderBy('created_at')
      .orderBy('uid')
      .execute();
    return rows.map(taskFromDb);
  }

  async pendingTasks(node: string, when: TaskWhen, applicationUid?: string): Promise<TaskRow[]> {
    const db = this.#db;
    const res = await this.#prep.run(
      db,
      `tasks.pending:${applicationUid === undefined ? '' : 'a'}`,
      () => {
        let q = db
          .selectFrom('tasks as t')
          .innerJoin('applications as a', 'a.uid', 't.application_uid')
          .selectAll('t')
          .where('t.status', '=', 'PENDING')
          .where('t.run_when', '=', P('when'))
          .where('a.node', '=', P('node'));
        if (applicationUid !== undefined) q = q.where('t.application_uid', '=', P('app'));
        return q.orderBy('t.created_at').orderBy('t.uid');
      },
      { when, node, app: applicationUid },
    );
    return res.rows.map(taskFromDb);
  }

  async updateTask(uid: string, from: readonly TaskStatus[], to: TaskStatus, result: string, at: string): Promise<boolean> {
    const r = await this.#db
      .updateTable('tasks')
      .set({ status: to, result, updated_at: at })
      .where('uid', '=', uid)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // ── nodes ───────────────────────────────────────────────────────────────

  async upsertNode(row: NodeRow, signals: readonly StoreSignal[] = []): Promise<void> {
    const v = nodeToDb(row);
    await this.#db
      .insertInto('nodes')
      .values(v)
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({
          address: v.address,
          cpu: v.cpu,
          ram: v.ram,
          cpu_overbook: v.cpu_overbook,
          ram_overbook: v.ram_overbook,
          tags: v.tags,
          drivers: v.drivers,
          heartbeat_at: v.heartbeat_at,
          started_at: v.started_at,
        }),
      )
      .execute();
    await this.notify(signals);
  }

  async heartbeat(name: string, at: string): Promise<void> {
    await this.#db.updateTable('nodes').set({ heartbeat_at: at }).where('name', '=', name).execute();
  }

  async getNode(name: string): Promise<NodeRow | undefined> {
    const r = await this.#db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? nodeFromDb(r) : undefined;
  }

  async listNodes(): Promise<NodeRow[]> {
    return (await this.#db.selectFrom('nodes').selectAll().orderBy('name').execute()).map(nodeFromDb);
  }

  async setMaintenance(name: string, on: boolean): Promise<boolean> {
    const r = await this.#db
      .updateTable('nodes')
      .set({ maintenance: on ? 1 : 0 })
      .where('name', '=', name)
      .executeTakeFirst();
    const changed = Number(r.numUpdatedRows) > 0;
    if (changed && !on) await this.notify([{ kind: 'nodes' }]);
    return changed;
  }
}
