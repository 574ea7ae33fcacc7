import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { DriverCapacity } from '../contract/index.js';
import {
  isApplicationStatus,
  type Application,
  type ApplicationCreate,
  type ApplicationState,
  type DriverInstanceInfo,
  type Label,
  type LabelCreate,
  type NodeInfo,
  type PageOf,
  type Resource,
  type StateEvent,
  type Task,
  type TaskCreate,
  type User,
  type UserCreate,
  type UserCreated,
} from '../model/index.js';
import { ConflictError } from '../store/errors.js';
import {
  HOLDING_STATUSES,
  type ApplicationRow,
  type LabelRow,
  type NodeRow,
  type Store,
  type StoreSignal,
} from '../store/store.js';
import { checkedFrom } from './applications/states.js';
import { DEFAULT_LIMITS, type CoreLimits, type CoreOptions, type DriverInstance, type NodeConfig, type StopOptions } from './core-options.js';
import type { ApplicationQuery, Caller, CoreService, LabelQuery, MetaIdentity, PageRequest } from './core-service.js';
import { parseDuration, parseOptionalDuration } from './durations.js';
import { CoreError } from './errors.js';
import { EventFeed } from './events/event-feed.js';
import { checkLabel, checkMetadata } from './labels/label-validation.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { toApplication, toLabel, toResource, toState, toTask, toUser } from './mappers.js';
import { MetaIndex } from './meta/meta-index.js';
import { createCoreMetrics, type CoreMetrics } from './metrics.js';
import { decodeCursor, encodeCursor, isNameVersion, isNumber, isString, pageLimit } from './pagination.js';
import { offerOfNode, unsatisfiableReason } from './scheduler/capacity-check.js';
import type { NodeOffer } from './scheduler/placement.js';
import { Scheduler } from './scheduler/scheduler.js';
import { TokenCache } from './users/token-cache.js';
import { hashSecret, newToken, splitToken, tokenKey, verifySecret } from './users/tokens.js';

const USER_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const EVENT_ID = /^[0-9]{1,15}$/;

const now = (): string => new Date().toISOString();
/** a timer that keeps the process alive (stop({ wait }) must not end with an empty event loop) */
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function positive(v: number, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`node.${field} must be a positive number, got ${String(v)}`);
  return v;
}

/**
 * The Shoal node's engine: users, labels, applications and their lifecycle, the scheduler,
 * events and the Meta API lookups, over a Store and this node's driver instances.
 *
 *   const core = new Core({ store, drivers, node, log, metrics, defaults, limits });
 *   const adminToken = await core.bootstrapAdmin();  // string the first time, else null
 *   await core.start();                              // register node, reconcile, start scheduling
 *   …
 *   await core.stop({ wait: false });                 // stop taking work, wait for driver calls
 */
export class Core implements CoreService {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #node: NodeConfig;
  readonly #drivers: Map<string, DriverInstance>;
  readonly #limits: CoreLimits;
  readonly #defaultLifetimeMs: number | null;
  readonly #defaultLifetime: string | null;
  readonly #meta: MetaIndex;
  readonly #feed: EventFeed;
  readonly #tokens: TokenCache;
  readonly #metrics: CoreMetrics;
  readonly #scheduler: Scheduler;
  readonly #lifecycle: Lifecycle;
  readonly #labels = new Map<string, LabelRow>();
  readonly #caps = new Map<string, DriverCapacity | undefined>();
  readonly #verifying = new Map<string, Promise<Caller | null>>();
  #offer: NodeOffer;
  #nodes: NodeRow[] = [];
  #maintenance = false;
  #started = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #startedAt = now();
  #offSignal: (() => void) | undefined;
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #nodesRefresh: Promise<void> | undefined;

  constructor(options: CoreOptions) {
    const n = options.node;
    if (!n.name) throw new Error('node.name is required');
    this.#node = {
      ...n,
      cpu: positive(n.cpu, 'cpu'),
      ram: positive(n.ram, 'ram'),
      cpu_overbook: positive(n.cpu_overbook, 'cpu_overbook'),
      ram_overbook: positive(n.ram_overbook, 'ram_overbook'),
    };
    this.#store = options.store;
    this.#log = options.log.child({ component: 'core', node: n.name });
    this.#limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    this.#defaultLifetime = options.defaults?.lifetime ?? null;
    this.#defaultLifetimeMs = parseOptionalDuration(this.#defaultLifetime, 'defaults.lifetime');
    this.#drivers = new Map();
    for (const d of options.drivers) {
      if (this.#drivers.has(d.instance)) throw new Error(`driver instance "${d.instance}" is given twice`);
      this.#drivers.set(d.instance, d);
      this.#caps.set(d.instance, d.capacity);
    }
    this.#offer = this.#makeOffer();
    this.#meta = new MetaIndex(options.arpTablePath);
    this.#feed = new EventFeed(this.#store, this.#log);
    this.#tokens = new TokenCache(this.#limits.tokenCacheMs);
    this.#metrics = createCoreMetrics(options.metrics, {
      node: n.name,
      queueLength: async () => (await this.#store.countByStatus()).NEW ?? 0,
      byStatus: () => this.#store.countByStatus(),
      capacity: () => ({ cpu: this.#offer.cpu, ram: this.#offer.ram }),
      used: async () => {
        const u = await this.#store.usage(n.name);
        return { cpu: u.cpu, ram: u.ram };
      },
    });
    this.#lifecycle = new Lifecycle({
      store: this.#store,
      log: this.#log,
      node: n.name,
      limits: this.#limits,
      drivers: this.#drivers,
      meta: this.#meta,
      metrics: this.#metrics,
      label: (uid) => this.#label(uid),
      lifetimeMs: (app, label) => this.#lifetimeMs(app, label),
      wakeScheduler: () => this.#scheduler.wake(),
    });
    this.#scheduler = new Scheduler({
      store: this.#store,
      log: this.#log,
      pageSize: this.#limits.claimPageSize,
      maxScan: this.#limits.claimMaxScan,
      offer: () => this.#offer,
      onClaimed: (app) => this.#lifecycle.allocate(app),
    });
  }

  // ── lifecycle of the node ───────────────────────────────────────────────

  /** Creates user `admin` if there is no user at all; returns its token (only then), else null. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.#store.countUsers()) > 0) return null;
    const t = newToken();
    try {
      await this.#store.insertUser({ name: 'admin', role: 'admin', token_id: t.id, token_hash: await hashSecret(t.secret), created_at: now() });
    } catch (err) {
      if (err instanceof ConflictError) return null; // another node made it first
      throw err;
    }
    this.#log.info({ user: 'admin' }, 'created the first user');
    return t.token;
  }

  /**
   * Registers this node (heartbeat), reconciles its resources with the drivers (kept / vanished /
   * interrupted / orphans), then starts scheduling, lifetimes and heartbeats.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    this.#startedAt = now();
    for (const inst of this.#drivers.values()) {
      if (inst.capacity === undefined && inst.enabled && inst.driver.capacity) {
        try {
          this.#caps.set(inst.instance, await inst.driver.capacity());
        } catch (err) {
          this.#log.warn({ driver: inst.instance, err: (err as Error).message }, 'driver capacity unknown; limited by the node only');
        }
      }
    }
    this.#offer = this.#makeOffer();
    const existing = await this.#store.getNode(this.#node.name);
    this.#maintenance = existing?.maintenance ?? false;
    await this.#store.upsertNode(this.#nodeRow(), [{ kind: 'nodes' }]);
    this.#offSignal = this.#store.onSignal((s) => this.#onSignal(s));
    const r = await this.#lifecycle.reconcile();
    this.#log.info(r, 'reconciled resources with the drivers');
    await this.#refreshNodes();
    this.#heartbeatTimer = setInterval(() => void this.#heartbeat(), this.#limits.heartbeatMs);
    this.#heartbeatTimer.unref();
    this.#tickTimer = setInterval(() => void this.#tick(), this.#limits.tickMs);
    this.#tickTimer.unref();
    if (!this.#maintenance) this.#scheduler.enable();
    this.#lifecycle.scanWork();
    this.#log.info(
      { cpu: this.#offer.cpu, ram: this.#offer.ram, drivers: [...this.#offer.drivers.keys()], maintenance: this.#maintenance },
      'node started',
    );
  }

  /**
   * Graceful stop: takes no new work, optionally waits until this node's resources have ended
   * (`wait`, bounded by `timeoutMs`), then waits for driver calls in flight.
   * Interrupted deallocation retries resume at the next start. Closes neither the store nor the
   * drivers: whoever created them closes them after stop() resolves.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (!this.#stopped) this.#stopped = this.#stop(options);
    return this.#stopped;
  }

  async #stop(options: StopOptions): Promise<void> {
    this.#stopping = true;
    await this.#scheduler.disable();
    if (this.#started && options.wait) {
      const deadline = Date.now() + (options.timeoutMs ?? Infinity);
      this.#log.info('waiting for the resources of this node to end');
      for (;;) {
        const held = await this.#store.applicationsOn(this.#node.name, HOLDING_STATUSES);
        if (held.length === 0 || Date.now() >= deadline) break;
        await sleep(Math.min(250, Math.max(1, deadline - Date.now())));
      }
    }
    if (this.#heartbeatTimer) clearInterval(this.#heartbeatTimer);
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    for (let i = 0; i < 500 && (this.#beating || this.#ticking); i++) await sleep(10);
    this.#offSignal?.();
    this.#feed.close();
    await this.#lifecycle.stop();
    await this.#nodesRefresh?.catch(() => {});
    this.#log.info('node stopped');
  }

  #onSignal(s: StoreSignal): void {
    switch (s.kind) {
      case 'queue':
        if (s.node === undefined || s.node === this.#node.name) this.#scheduler.wake();
        break;
      case 'work':
        if (s.node === this.#node.name) this.#lifecycle.scanWork();
        break;
      case 'events':
        this.#feed.onEvents(s.lastId, s.events);
        break;
      case 'nodes':
        void this.#refreshNodes();
        this.#scheduler.wake();
        break;
      case 'resync':
        this.#feed.resync();
        this.#scheduler.wake();
        this.#lifecycle.scanWork();
        void this.#refreshNodes();
        break;
    }
  }

  #beating = false;
  #ticking = false;

  async #heartbeat(): Promise<void> {
    if (this.#beating) return; // the previous one is still running (slow database)
    this.#beating = true;
    try {
      await this.#store.heartbeat(this.#node.name, now());
      await this.#refreshNodes();
      const staleBefore = new Date(Date.now() - this.#limits.deadAfterMs).toISOString();
      for (const n of this.#nodes) {
        if (n.name === this.#node.name || n.heartbeat_at >= staleBefore) continue;
        const moved = await this.#store.reelectFromDeadNode(
          n.name,
          staleBefore,
          `node ${n.name} stopped answering (no heartbeat since ${n.heartbeat_at}); waiting for another node`,
          now(),
        );
        if (moved > 0) this.#log.warn({ deadNode: n.name, moved }, 're-electing the work of a dead node');
      }
      if (this.#stopping) return;
      await this.#lifecycle.sweepStuck(Math.max(1_000, 2 * this.#limits.heartbeatMs));
      this.#lifecycle.scanWork();
      this.#scheduler.wake();
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'heartbeat failed');
    } finally {
      this.#beating = false;
    }
  }

  async #tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#lifecycle.expire();
      const expired = await this.#store.waitExpired(now(), 500);
      if (expired.length > 0) {
        await this.#store.transition(
          expired.map((a) => ({
            uid: a.uid,
            from: checkedFrom(['NEW'], 'ERROR'),
            to: 'ERROR' as const,
            description: `no node took it within its wait_timeout of ${a.wait_timeout}`,
            at: now(),
            failPendingTasks: 'the application was never allocated',
          })),
        );
      }
    } catch (err) {
      this.#log.error({ err: (err as Error).message }, 'timer check failed');
    } finally {
      this.#ticking = false;
    }
  }

  #refreshNodes(): Promise<void> {
    if (!this.#nodesRefresh) {
      this.#nodesRefresh = this.#store
        .listNodes()
        .then((rows) => {
          this.#nodes = rows;
        })
        .catch((err: Error) => this.#log.warn({ err: err.message }, 'could not read the node list'))
        .finally(() => {
          this.#nodesRefresh = undefined;
        });
    }
    return this.#nodesRefresh;
  }

  #makeOffer(): NodeOffer {
    const drivers = new Map<string, DriverCapacity | undefined>();
    for (const d of this.#drivers.values()) if (d.enabled) drivers.set(d.instance, this.#caps.get(d.instance));
    return {
      node: this.#node.name,
      cpu: this.#node.cpu * this.#node.cpu_overbook,
      ram: this.#node.ram * this.#node.ram_overbook,
      drivers,
    };
  }

  #driverInfos(): DriverInstanceInfo[] {
    return [...this.#drivers.values()].map((d) => {
      const cap = this.#caps.get(d.instance);
      return {
        instance: d.instance,
        driver: d.driver.name(),
        enabled: d.enabled,
        health: d.fingerprint.health,
        description: d.fingerprint.description,
        attributes: d.fingerprint.attributes,
        ...(cap ? { capacity: { cpu: cap.cpu, ram: cap.ram } } : {}),
      };
    });
  }

  #nodeRow(): NodeRow {
    return {
      name: this.#node.name,
      address: this.#node.address,
      cpu: this.#node.cpu,
      ram: this.#node.ram,
      cpu_overbook: this.#node.cpu_overbook,
      ram_overbook: this.#node.ram_overbook,
      tags: this.#node.tags,
      drivers: this.#driverInfos(),
      heartbeat_at: now(),
      started_at: this.#startedAt,
      maintenance: this.#maintenance,
    };
  }

  /** Other nodes that answer, plus this one. */
  #liveOffers(): NodeOffer[] {
    const staleBefore = new Date(Date.now() - this.#limits.deadAfterMs).toISOString();
    const others = this.#nodes.filter((n) => n.name !== this.#node.name && n.heartbeat_at >= staleBefore).map(offerOfNode);
    return [this.#offer, ...others];
  }

  async #label(uid: string): Promise<LabelRow> {
    let l = this.#labels.get(uid);
    if (!l) {
      l = await this.#store.getLabel(uid);
      if (!l) throw new Error(`label ${uid} is missing from the store`);
      if (this.#labels.size >= 10_000) this.#labels.clear();
      this.#labels.set(uid, l);
    }
    return l;
  }

  #lifetimeMs(app: ApplicationRow, label: LabelRow): number | null {
    if (app.lifetime) return parseDuration(app.lifetime, 'lifetime');
    if (label.lifetime) return parseDuration(label.lifetime, 'lifetime');
    return this.#defaultLifetimeMs;
  }

  // ── access checks ───────────────────────────────────────────────────────

  #requireAdmin(caller: Caller, what: string): void {
    if (caller.role !== 'admin') throw new CoreError('FORBIDDEN', `only admins may ${what}`);
  }

  async #visibleApp(caller: Caller, uid: string): Promise<ApplicationRow> {
    const app = UID.test(uid) ? await this.#store.getApplication(uid) : undefined;
    if (!app || (caller.role !== 'admin' && app.owner !== caller.name)) {
      throw new CoreError('NOT_FOUND', `application ${uid} not found`);
    }
    return app;
  }

  // ── users ───────────────────────────────────────────────────────────────

  async authenticate(token: string, name?: string): Promise<Caller | null> {
    const cached = this.#tokens.get(token);
    if (cached) return name === undefined || cached.name === name ? cached : null;
    const parts = splitToken(token);
    if (!parts) return null;
    const key = tokenKey(token);
    let pending = this.#verifying.get(key);
    if (!pending) {
      pending = (async () => {
        const user = await this.#store.getUserByTokenId(parts.id);
        if (!user || !(await verifySecret(user.token_hash, parts.secret))) return null;
        const caller: Caller = { name: user.name, role: user.role };
        this.#tokens.set(token, caller);
        return caller;
      })().finally(() => this.#verifying.delete(key));
      this.#verifying.set(key, pending);
    }
    const caller = await pending;
    if (!caller) return null;
    return name === undefined || caller.name === name ? caller : null;
  }

  async createUser(caller: Caller, body: UserCreate): Promise<UserCreated> {
    this.#requireAdmin(caller, 'create users');
    if (typeof body.name !== 'string' || !USER_NAME.test(body.name)) {
      throw new CoreError('INVALID', 'name: must be 1–63 lowercase letters, digits, "_" or "-", starting with a letter', { field: 'name' });
    }
    const role = body.role ?? 'user';
    if (role !== 'admin' && role !== 'user') throw new CoreError('INVALID', 'role: must be "admin" or "user"', { field: 'role' });
    const t = newToken();
    const created_at = now();
    try {
      await this.#store.insertUser({ name: body.name, role, token_id: t.id, token_hash: await hashSecret(t.secret), created_at });
    } catch (err) {
      if (err instanceof ConflictError) throw new CoreError('CONFLICT', `user "${body.name}" already exists`);
      throw err;
    }
    this.#log.info({ user: body.name, role, by: caller.name }, 'user created');
    return { name: body.name, role, token: t.token, created_at };
  }

  async listUsers(caller: Caller, page: PageRequest): Promise<PageOf<User>> {
    this.#requireAdmin(caller, 'list users');
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isString);
    const rows = await this.#store.listUsers({ limit, ...(after === undefined ? {} : { after }) });
    return { items: rows.map(toUser), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.name) } : {}) };
  }

  async getUser(caller: Caller, name: string): Promise<User> {
    if (caller.role !== 'admin' && caller.name !== name) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    const u = await this.#store.getUser(name);
    if (!u) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    return toUser(u);
  }

  async deleteUser(caller: Caller, name: string): Promise<void> {
    this.#requireAdmin(caller, 'delete users');
    if (name === caller.name) throw new CoreError('CONFLICT', 'you cannot delete yourself; ask another admin');
    if (!(await this.#store.deleteUser(name))) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    this.#tokens.dropUser(name);
    this.#log.info({ user: name, by: caller.name }, 'user deleted');
  }

  // ── labels ──────────────────────────────────────────────────────────────

  async createLabel(caller: Caller, body: LabelCreate): Promise<Label> {
    const remote = new Set<string>();
    for (const o of this.#liveOffers()) if (o.node !== this.#node.name) for (const d of o.drivers.keys()) remote.add(d);
    const definitions = await checkLabel(body, { local: this.#drivers, remote });
    const row = await this.#store.insertLabel({
      uid: randomUUID(),
      name: body.name,
      definitions,
      metadata: checkMetadata(body.metadata, 'metadata'),
      lifetime: body.lifetime ?? null,
      wait_timeout: body.wait_timeout ?? null,
      owner: caller.name,
      created_at: now(),
    });
    this.#labels.set(row.uid, { ...row, deleted_at: null });
    this.#log.info({ label: row.name, version: row.version, by: caller.name }, 'label created');
    return toLabel(row);
  }

  async listLabels(_caller: Caller, query: LabelQuery): Promise<PageOf<Label>> {
    const limit = pageLimit(query.limit);
    const after = decodeCursor(query.cursor, isNameVersion);
    let version: number | 'latest' | undefined = query.version;
    if (typeof version === 'string' && version !== 'latest') {
      const n = Number(version);
      if (!Number.isInteger(n) || n < 1) throw new CoreError('INVALID', 'version: a version number or "latest"', { field: 'version' });
      version = n;
    }
    const rows = await this.#store.listLabels({
      limit,
      ...(query.name === undefined ? {} : { name: query.name }),
      ...(version === undefined ? {} : { version }),
      ...(after ? { after } : {}),
    });
    const last = rows.at(-1);
    return {
      items: rows.map(toLabel),
      ...(rows.length === limit && last ? { next_cursor: encodeCursor({ name: last.name, version: last.version }) } : {}),
    };
  }

  async getLabel(_caller: Caller, uid: string): Promise<Label> {
    const l = UID.test(uid) ? await this.#store.getLabel(uid) : undefined;
    if (!l || l.deleted_at) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    return toLabel(l);
  }

  async deleteLabel(caller: Caller, uid: string): Promise<void> {
    const l = UID.test(uid) ? await this.#store.getLabel(uid) : undefined;
    if (!l || l.deleted_at) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    if (caller.role !== 'admin' && l.owner !== caller.name) {
      throw new CoreError('FORBIDDEN', `label ${l.name} version ${l.version} belongs to ${l.owner}; only its owner or an admin may delete it`);
    }
    if (!(await this.#store.deleteLabel(uid, now()))) throw new CoreError('NOT_FOUND', `label ${uid} not found`);
    this.#log.info({ label: l.name, version: l.version, by: caller.name }, 'label deleted');
  }

  // ── applications ────────────────────────────────────────────────────────

  async createApplication(caller: Caller, body: ApplicationCreate): Promise<Application> {
    if (this.#stopping) throw new CoreError('UNAVAILABLE', `node ${this.#node.name} is shutting down; try another node`);
    if (typeof body.label !== 'string' || body.label === '') throw new CoreError('INVALID', 'label: name the label to use', { field: 'label' });
    if (body.version !== undefined && (!Number.isInteger(body.version) || body.version < 1)) {
      throw new CoreError('INVALID', 'version: must be a whole number ≥ 1 (omit it for the latest)', { field: 'version' });
    }
    const metadata = checkMetadata(body.metadata, 'metadata');
    if (body.lifetime !== undefined) parseDuration(body.lifetime, 'lifetime');
    const label = await this.#store.findLabel(body.label, body.version ?? 'latest');
    if (!label) {
      throw new CoreError(
        'NOT_FOUND',
        body.version === undefined ? `label "${body.label}" not found` : `label "${body.label}" version ${body.version} not found`,
        { field: 'label' },
      );
    }
    const waitTimeout = body.wait_timeout ?? label.wait_timeout ?? null;
    const waitMs = parseOptionalDuration(waitTimeout, 'wait_timeout');
    const why = unsatisfiableReason(label.definitions, this.#liveOffers());
    if (why) throw new CoreError('UNSATISFIABLE', `label ${label.name} version ${label.version}: ${why}`);
    this.#labels.set(label.uid, label);
    const created_at = now();
    const { app } = await this.#store.insertApplication(
      {
        uid: randomUUID(),
        label_uid: label.uid,
        owner: caller.name,
        metadata,
        lifetime: body.lifetime ?? null,
        wait_timeout: waitTimeout,
        wait_deadline: waitMs === null ? null : new Date(Date.parse(created_at) + waitMs).toISOString(),
        created_at,
      },
      `waiting for a node with capacity (label ${label.name} version ${label.version})`,
    );
    this.#log.debug({ app: app.uid, label: label.name, version: label.version, by: caller.name }, 'application created');
    return toApplication(app);
  }

  async listApplications(caller: Caller, query: ApplicationQuery): Promise<PageOf<Application>> {
    const limit = pageLimit(query.limit);
    const before = decodeCursor(query.cursor, isNumber);
    if (query.status !== undefined && !isApplicationStatus(query.status)) {
      throw new CoreError('INVALID', 'status: one of NEW, ELECTED, ALLOCATED, DEALLOCATE, DEALLOCATED, ERROR', { field: 'status' });
    }
    const rows = await this.#store.listApplications({
      limit,
      ...(caller.role === 'admin' ? {} : { owner: caller.name }),
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(before === undefined ? {} : { beforeSeq: before }),
    });
    return { items: rows.map(toApplication), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.seq) } : {}) };
  }

  async getApplication(caller: Caller, uid: string): Promise<Application> {
    return toApplication(await this.#visibleApp(caller, uid));
  }

  async getState(caller: Caller, uid: string): Promise<ApplicationState> {
    const app = await this.#visibleApp(caller, uid);
    return { status: app.status, description: app.status_description, created_at: app.status_at };
  }

  async listStates(caller: Caller, uid: string): Promise<ApplicationState[]> {
    await this.#visibleApp(caller, uid);
    return (await this.#store.listStates(uid)).map(toState);
  }

  async getResource(caller: Caller, uid: string): Promise<Resource> {
    const app = await this.#visibleApp(caller, uid);
    const res = await this.#store.getResource(uid);
    if (!res) throw new CoreError('NOT_FOUND', `application ${uid} has no resource (it is ${app.status})`);
    return toResource(res);
  }

  async deallocate(caller: Caller, uid: string): Promise<{ status: 'DEALLOCATE' | 'DEALLOCATED' }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const app = await this.#visibleApp(caller, uid);
      const by = `deallocation requested by ${caller.name}`;
      switch (app.status) {
        case 'NEW': {
          const [row] = await this.#store.transition([
            {
              uid,
              from: checkedFrom(['NEW'], 'DEALLOCATED'),
              to: 'DEALLOCATED',
              description: `${by} before any node took it`,
              at: now(),
              failPendingTasks: 'the application was never allocated',
            },
          ]);
          if (row) return { status: 'DEALLOCATED' };
          continue; // a node just claimed it: look again
        }
        case 'ELECTED':
        case 'ALLOCATED': {
          const local = app.node === this.#node.name;
          const [row] = await this.#store.transition(
            [
              {
                uid,
                from: checkedFrom([app.status], 'DEALLOCATE'),
                to: 'DEALLOCATE',
                description: app.status === 'ELECTED' ? `${by} while allocating; the allocation will be undone` : by,
                at: now(),
              },
            ],
            local || !app.node ? [] : [{ kind: 'work', node: app.node }],
          );
          if (!row) continue;
          if (local) {
            this.#meta.remove(uid);
            this.#lifecycle.deallocate(uid);
          }
          return { status: 'DEALLOCATE' };
        }
        case 'DEALLOCATE':
          return { status: 'DEALLOCATE' };
        case 'DEALLOCATED':
          return { status: 'DEALLOCATED' };
        case 'ERROR':
          throw new CoreError('CONFLICT', `application ${uid} is in ERROR (${app.status_description}); there is nothing to deallocate`);
      }
    }
    throw new CoreError('CONFLICT', `application ${uid} keeps changing state; try again`);
  }

  async listTasks(caller: Caller, uid: string): Promise<Task[]> {
    await this.#visibleApp(caller, uid);
    return (await this.#store.listTasks(uid)).map(toTask);
  }

  async createTask(caller: Caller, uid: string, body: TaskCreate): Promise<Task> {
    const app = await this.#visibleApp(caller, uid);
    if (body.task !== 'snapshot') throw new CoreError('INVALID', 'task: the only task is "snapshot"', { field: 'task' });
    const when = body.when ?? 'NOW';
    if (when !== 'NOW' && when !== 'DEALLOCATE') throw new CoreError('INVALID', 'when: "NOW" or "DEALLOCATE"', { field: 'when' });
    const full = body.options?.full;
    if (full !== undefined && typeof full !== 'boolean') throw new CoreError('INVALID', 'options.full: true or false', { field: 'options.full' });
    if (when === 'NOW' && app.status !== 'ALLOCATED') {
      throw new CoreError('CONFLICT', `a snapshot NOW needs an ALLOCATED application; ${uid} is ${app.status}`);
    }
    if (when === 'DEALLOCATE' && !['NEW', 'ELECTED', 'ALLOCATED'].includes(app.status)) {
      throw new CoreError('CONFLICT', `application ${uid} is ${app.status}; a task at deallocation can no longer be added`);
    }
    const at = now();
    const task = {
      uid: randomUUID(),
      application_uid: uid,
      owner: app.owner,
      task: 'snapshot' as const,
      options: full === undefined ? {} : { full },
      when,
      status: 'PENDING' as const,
      result: '',
      created_at: at,
      updated_at: at,
    };
    const local = app.node === this.#node.name;
    await this.#store.insertTask(task, when === 'NOW' && !local && app.node ? [{ kind: 'work', node: app.node }] : []);
    if (when === 'NOW' && local) {
      const res = await this.#store.getResource(uid);
      if (res) this.#lifecycle.runTaskNow(task, res);
    }
    return toTask(task);
  }

  async getConsole(caller: Caller, uid: string): Promise<string> {
    await this.#visibleApp(caller, uid);
    const res = await this.#store.getResource(uid);
    if (!res) throw new CoreError('NOT_FOUND', `application ${uid} has no resource`);
    if (res.node !== this.#node.name) {
      const other = this.#nodes.find((n) => n.name === res.node);
      throw new CoreError('UNAVAILABLE', `the resource runs on node ${res.node}; ask that node${other ? ` (${other.address})` : ''}`);
    }
    const inst = this.#drivers.get(res.driver);
    if (!inst?.driver.console) throw new CoreError('NOT_FOUND', `driver ${res.driver} keeps no console output`);
    return inst.driver.console(res.hwaddr);
  }

  async listResources(caller: Caller, page: PageRequest): Promise<PageOf<Resource>> {
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isString);
    const rows = await this.#store.listResources({
      limit,
      ...(caller.role === 'admin' ? {} : { owner: caller.name }),
      ...(after === undefined ? {} : { after }),
    });
    return {
      items: rows.map(toResource),
      ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.application_uid) } : {}),
    };
  }

  // ── nodes ───────────────────────────────────────────────────────────────

  #nodeInfo(n: NodeRow, used: { cpu: number; ram: number } | undefined): NodeInfo {
    const self = n.name === this.#node.name;
    const staleBefore = new Date(Date.now() - this.#limits.deadAfterMs).toISOString();
    return {
      name: n.name,
      address: n.address,
      capacity: { cpu: n.cpu, ram: n.ram, cpu_overbook: n.cpu_overbook, ram_overbook: n.ram_overbook },
      used: used ?? { cpu: 0, ram: 0 },
      tags: n.tags,
      drivers: self ? this.#driverInfos() : n.drivers,
      maintenance: self ? this.#maintenance : n.maintenance,
      alive: self ? !this.#stopping && this.#started : n.heartbeat_at >= staleBefore,
      heartbeat_at: n.heartbeat_at,
      started_at: n.started_at,
    };
  }

  async listNodes(_caller: Caller): Promise<NodeInfo[]> {
    const [rows, usage] = await Promise.all([this.#store.listNodes(), this.#store.usageByNode()]);
    return rows.map((n) => this.#nodeInfo(n, usage.get(n.name)));
  }

  async thisNode(_caller: Caller): Promise<NodeInfo> {
    const [row, usage] = await Promise.all([this.#store.getNode(this.#node.name), this.#store.usage(this.#node.name)]);
    return this.#nodeInfo(row ?? this.#nodeRow(), { cpu: usage.cpu, ram: usage.ram });
  }

  async setMaintenance(caller: Caller, on: boolean): Promise<NodeInfo> {
    this.#requireAdmin(caller, 'change maintenance mode');
    if (typeof on !== 'boolean') throw new CoreError('INVALID', 'enabled: true or false', { field: 'enabled' });
    if (!this.#started) await this.#store.upsertNode(this.#nodeRow());
    await this.#store.setMaintenance(this.#node.name, on);
    this.#maintenance = on;
    if (on) await this.#scheduler.disable();
    else if (this.#started && !this.#stopping) this.#scheduler.enable();
    this.#log.info({ maintenance: on, by: caller.name }, 'maintenance mode changed');
    return this.thisNode(caller);
  }

  // ── events, Meta API ────────────────────────────────────────────────────

  subscribe(caller: Caller, afterId: string | undefined, onEvent: (event: StateEvent) => void): () => void {
    let after: number | undefined;
    if (afterId !== undefined && afterId !== '') {
      if (!EVENT_ID.test(afterId)) {
        throw new CoreError('INVALID', `Last-Event-ID: "${afterId.slice(0, 40)}" is not an event id (a number from this event stream)`, {
          field: 'Last-Event-ID',
        });
      }
      after = Number(afterId);
    }
    return this.#feed.subscribe(caller, after, onEvent);
  }

  async metadataFor(identity: MetaIdentity): Promise<Record<string, unknown> | null> {
    if (identity.kind === 'address') return this.#meta.byAddress(identity.address);
    if (identity.kind === 'hwaddr') return this.#meta.byHwaddr(identity.hwaddr);
    return null;
  }
}
