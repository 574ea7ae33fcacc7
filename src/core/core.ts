import type { Logger } from 'pino';
import type { DriverCapacity } from '../contract/index.js';
import type {
  Application,
  ApplicationCreate,
  ApplicationState,
  DriverInstanceInfo,
  Label,
  LabelCreate,
  LabelNameOwner,
  NodeInfo,
  PageOf,
  Resource,
  StateEvent,
  Task,
  TaskCreate,
  User,
  UserCreate,
  UserCreated,
} from '../model/index.js';
import { HOLDING_STATUSES, type ApplicationRow, type LabelRow, type NodeRow, type Store, type StoreSignal } from '../store/store.js';
import { ApplicationService } from './applications/application-service.js';
import { checkedFrom } from './applications/states.js';
import { DEFAULT_LIMITS, type CoreLimits, type CoreOptions, type DriverInstance, type NodeConfig, type StopOptions } from './core-options.js';
import type { ApplicationQuery, Caller, CoreService, LabelQuery, MetaIdentity, PageRequest } from './core-service.js';
import { parseDuration, parseOptionalDuration } from './durations.js';
import { CoreError } from './errors.js';
import { EventFeed } from './events/event-feed.js';
import { LabelService } from './labels/label-service.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { MetaIndex } from './meta/meta-index.js';
import { createCoreMetrics, type CoreMetrics } from './metrics.js';
import { offerOfNode } from './scheduler/capacity-check.js';
import type { NodeOffer } from './scheduler/placement.js';
import { Scheduler } from './scheduler/scheduler.js';
import { requireAdmin, UserService } from './users/user-service.js';

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
  readonly #metrics: CoreMetrics;
  readonly #scheduler: Scheduler;
  readonly #lifecycle: Lifecycle;
  readonly #users: UserService;
  readonly #labels: LabelService;
  readonly #apps: ApplicationService;
  readonly #caps = new Map<string, DriverCapacity | undefined>();
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
    this.#users = new UserService(this.#store, this.#log, this.#limits.tokenCacheMs);
    this.#labels = new LabelService({
      store: this.#store,
      log: this.#log,
      node: n.name,
      drivers: this.#drivers,
      liveOffers: () => this.#liveOffers(),
    });
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
      label: (uid) => this.#labels.get(uid),
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
    this.#apps = new ApplicationService({
      store: this.#store,
      log: this.#log,
      node: n.name,
      drivers: this.#drivers,
      labels: this.#labels,
      lifecycle: this.#lifecycle,
      meta: this.#meta,
      liveOffers: () => this.#liveOffers(),
      nodes: () => this.#nodes,
      stopping: () => this.#stopping,
    });
  }

  // ── lifecycle of the node ───────────────────────────────────────────────

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
    await this.#feed.pin();
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
    if (this.#started) {
      // a node that stopped on purpose is not alive: others see it at once, not after deadAfterMs
      await this.#store.heartbeat(this.#node.name, new Date(0).toISOString()).catch(() => {});
    }
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

  #lifetimeMs(app: ApplicationRow, label: LabelRow): number | null {
    if (app.lifetime) return parseDuration(app.lifetime, 'lifetime');
    if (label.lifetime) return parseDuration(label.lifetime, 'lifetime');
    return this.#defaultLifetimeMs;
  }

  // ── users, labels, applications: see the services ──────────────────────

  bootstrapAdmin(): Promise<string | null> {
    return this.#users.bootstrapAdmin();
  }
  authenticate(token: string, name?: string): Promise<Caller | null> {
    return this.#users.authenticate(token, name);
  }
  authenticateCached(token: string, name?: string): Caller | undefined {
    return this.#users.authenticateCached(token, name);
  }
  createUser(caller: Caller, body: UserCreate): Promise<UserCreated> {
    return this.#users.createUser(caller, body);
  }
  listUsers(caller: Caller, page: PageRequest): Promise<PageOf<User>> {
    return this.#users.listUsers(caller, page);
  }
  getUser(caller: Caller, name: string): Promise<User> {
    return this.#users.getUser(caller, name);
  }
  deleteUser(caller: Caller, name: string): Promise<void> {
    return this.#users.deleteUser(caller, name);
  }

  createLabel(caller: Caller, body: LabelCreate): Promise<Label> {
    return this.#labels.createLabel(caller, body);
  }
  listLabels(caller: Caller, query: LabelQuery): Promise<PageOf<Label>> {
    return this.#labels.listLabels(caller, query);
  }
  getLabel(caller: Caller, uid: string): Promise<Label> {
    return this.#labels.getLabel(caller, uid);
  }
  deleteLabel(caller: Caller, uid: string): Promise<void> {
    return this.#labels.deleteLabel(caller, uid);
  }
  getLabelOwner(caller: Caller, name: string): Promise<LabelNameOwner> {
    return this.#labels.getLabelOwner(caller, name);
  }
  setLabelOwner(caller: Caller, name: string, owner: string): Promise<LabelNameOwner> {
    return this.#labels.setLabelOwner(caller, name, owner);
  }

  createApplication(caller: Caller, body: ApplicationCreate): Promise<Application> {
    return this.#apps.createApplication(caller, body);
  }
  listApplications(caller: Caller, query: ApplicationQuery): Promise<PageOf<Application>> {
    return this.#apps.listApplications(caller, query);
  }
  getApplication(caller: Caller, uid: string): Promise<Application> {
    return this.#apps.getApplication(caller, uid);
  }
  getState(caller: Caller, uid: string): Promise<ApplicationState> {
    return this.#apps.getState(caller, uid);
  }
  listStates(caller: Caller, uid: string): Promise<ApplicationState[]> {
    return this.#apps.listStates(caller, uid);
  }
  getResource(caller: Caller, uid: string): Promise<Resource> {
    return this.#apps.getResource(caller, uid);
  }
  deallocate(caller: Caller, uid: string): Promise<{ status: 'DEALLOCATE' | 'DEALLOCATED' }> {
    return this.#apps.deallocate(caller, uid);
  }
  listTasks(caller: Caller, uid: string): Promise<Task[]> {
    return this.#apps.listTasks(caller, uid);
  }
  createTask(caller: Caller, uid: string, body: TaskCreate): Promise<Task> {
    return this.#apps.createTask(caller, uid, body);
  }
  getConsole(caller: Caller, uid: string): Promise<string> {
    return this.#apps.getConsole(caller, uid);
  }
  listResources(caller: Caller, page: PageRequest): Promise<PageOf<Resource>> {
    return this.#apps.listResources(caller, page);
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
    requireAdmin(caller, 'change maintenance mode');
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
