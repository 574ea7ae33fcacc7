import type { Logger } from 'pino';
import type { AccessSession, StateEvent } from '../model/index.js';
import { HOLDING_STATUSES, type ApplicationRow, type LabelRow, type Store, type StoreSignal } from '../store/store.js';
import { AccessService } from './access/access-service.js';
import { KeyService, MAX_SESSIONS_LISTED, toAccessSession } from './access/key-service.js';
import { ApplicationService } from './applications/application-service.js';
import { checkedFrom } from './applications/states.js';
import {
  DEFAULT_LIMITS,
  type CoreLimits,
  type CoreOptions,
  type DriverInstance,
  type NodeConfig,
  type StopOptions,
} from './core-options.js';
import type { Caller, CoreService, MetaIdentity } from './core-service.js';
import { parseDuration, parseOptionalDuration } from './durations.js';
import { CoreError } from './errors.js';
import { EventFeed, type EventFlow } from './events/event-feed.js';
import { LabelService } from './labels/label-service.js';
import { Lifecycle } from './lifecycle/lifecycle.js';
import { MetaIndex } from './meta/meta-index.js';
import { createCoreMetrics, type CoreMetrics } from './metrics.js';
import { DiskGuard } from './nodes/disk-guard.js';
import { takeBackup } from './maintenance/backup.js';
import { Retention } from './maintenance/retention.js';
import { StorageUsage } from './maintenance/storage-usage.js';
import { NodeMembership } from './nodes/membership.js';
import { StoredItems } from './nodes/stored-items.js';
import { Scheduler } from './scheduler/scheduler.js';
import { requireAdmin, UserService } from './users/user-service.js';
import { settledWithin, untilStateHolds } from './waits.js';

const EVENT_ID = /^[0-9]{1,15}$/;
/** how long stop() waits for a heartbeat or timer check already running */
const IN_FLIGHT_WAIT_MS = 5_000;

const now = (): string => new Date().toISOString();

function positive(v: number, field: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`node.${field} must be a positive number, got ${String(v)}`);
  return v;
}

/**
 * The Shoal node's engine: users, labels, applications and their lifecycle, the scheduler,
 * events and the Meta API lookups, over a Store and this node's driver instances. Membership of
 * the cluster (heartbeat, offers, maintenance, re-election) is in nodes/membership.ts; the
 * services in users/, labels/ and applications/ answer the API's calls.
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
  #stored: StoredItems | undefined;
  readonly #limits: CoreLimits;
  readonly #defaultLifetimeMs: number | null;
  readonly #meta: MetaIndex;
  readonly #feed: EventFeed;
  readonly #metrics: CoreMetrics;
  readonly #retention: Retention;
  readonly #storage: StorageUsage;
  readonly #dataDir: string | undefined;
  readonly #scheduler: Scheduler;
  readonly #lifecycle: Lifecycle;
  readonly #membership: NodeMembership;
  readonly #disk: DiskGuard | undefined;
  readonly #users: UserService;
  readonly #keys: KeyService;
  readonly #access: AccessService;
  readonly #labels: LabelService;
  readonly #apps: ApplicationService;
  #started = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #offSignal: (() => void) | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  /** the timer check running now (one at a time) */
  #tickRun: Promise<void> | undefined;
  /** when the resources were last checked with their drivers (ms) */
  #lastResourceCheck = Date.now();

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
    this.#limits = {
      ...DEFAULT_LIMITS,
      ...(options.limits ?? {}),
      metadata: { ...DEFAULT_LIMITS.metadata, ...(options.limits?.metadata ?? {}) },
    };
    const { heartbeatMs, deadAfterMs, nodeLostAfterMs } = this.#limits;
    if (!(heartbeatMs > 0 && deadAfterMs > heartbeatMs && nodeLostAfterMs > deadAfterMs)) {
      throw new Error(
        `node timings must grow: heartbeat (${heartbeatMs} ms) < dead-node mark (${deadAfterMs} ms) < node_lost_after (${nodeLostAfterMs} ms)`,
      );
    }
    this.#defaultLifetimeMs = parseOptionalDuration(options.defaults?.lifetime ?? null, 'defaults.lifetime');
    this.#drivers = new Map();
    for (const d of options.drivers) {
      if (this.#drivers.has(d.instance)) throw new Error(`driver instance "${d.instance}" is given twice`);
      this.#drivers.set(d.instance, d);
    }
    this.#membership = new NodeMembership({
      store: this.#store,
      log: this.#log,
      node: this.#node,
      limits: this.#limits,
      drivers: this.#drivers,
      serving: () => this.#started && !this.#stopping,
      paused: () => this.#disk?.reason ?? null,
      afterBeat: () => this.#afterBeat(),
      onLost: (lostAt) => this.#reconcileAfterLost(lostAt),
    });
    this.#disk = options.disk ? new DiskGuard(options.disk) : undefined;
    this.#meta = new MetaIndex(options.arpTablePath);
    this.#feed = new EventFeed(this.#store, this.#log);
    this.#storage = new StorageUsage(this.#store, options.dataDir);
    this.#dataDir = options.dataDir;
    this.#users = new UserService(this.#store, this.#log, this.#limits.tokenCacheMs);
    this.#keys = new KeyService(this.#store, this.#log);
    this.#access = new AccessService({
      store: this.#store,
      log: this.#log,
      node: n.name,
      drivers: this.#drivers,
      subscribe: (onEvent) => this.#feed.subscribe({ id: 'shoal-node', name: 'shoal-node', role: 'admin' }, undefined, onEvent),
    });
    this.#labels = new LabelService({
      store: this.#store,
      log: this.#log,
      node: n.name,
      drivers: this.#drivers,
      liveOffers: () => this.#membership.liveOffers(),
      metadataLimits: this.#limits.metadata,
    });
    this.#metrics = createCoreMetrics(options.metrics, {
      node: n.name,
      queueLength: async () => (await this.#store.countByStatus()).NEW ?? 0,
      byStatus: () => this.#store.countByStatus(),
      capacity: () => ({ cpu: this.#membership.offer.cpu, ram: this.#membership.offer.ram }),
      used: async () => {
        const u = await this.#store.usage(n.name);
        return { cpu: u.cpu, ram: u.ram };
      },
      storage: () => this.#storage.get(),
    });
    this.#retention = new Retention({
      store: this.#store,
      log: this.#log,
      retentionMs: this.#limits.retentionMs,
      everyMs: this.#limits.retentionEveryMs,
      batch: this.#limits.retentionBatch,
      onPurged: (n) => this.#metrics.retentionDeleted.inc(n),
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
      offer: () => this.#membership.offer,
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
      liveOffers: () => this.#membership.liveOffers(),
      nodes: () => this.#membership.nodes,
      stopping: () => this.#stopping,
      paused: () => this.#disk?.reason ?? null,
      metadataLimits: this.#limits.metadata,
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
    await this.#membership.join();
    this.#offSignal = this.#store.onSignal((s) => this.#onSignal(s));
    await this.#feed.pin();
    const r = await this.#lifecycle.reconcile();
    this.#log.info(r, 'reconciled resources with the drivers');
    await this.#membership.refresh();
    this.#membership.startHeartbeat();
    this.#tickTimer = setInterval(() => void this.#tick(), this.#limits.tickMs);
    this.#tickTimer.unref();
    await this.#disk?.check();
    if (this.#disk?.reason) this.#log.warn({ reason: this.#disk.reason }, 'taking no new work');
    this.#enableScheduler();
    this.#lifecycle.scanWork();
    this.#retention.start();
    const offer = this.#membership.offer;
    this.#log.info(
      { cpu: offer.cpu, ram: offer.ram, drivers: [...offer.drivers.keys()], maintenance: this.#membership.maintenance },
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
    this.#stopped ??= this.#stop(options);
    return this.#stopped;
  }

  async #stop(options: StopOptions): Promise<void> {
    this.#stopping = true;
    this.#access.stop();
    await this.#scheduler.disable();
    if (this.#started && options.wait) {
      this.#log.info('waiting for the resources of this node to end');
      const held = () => this.#store.applicationsOn(this.#node.name, HOLDING_STATUSES);
      await untilStateHolds(this.#store, async () => (await held()).length === 0, options.timeoutMs ?? Infinity);
    }
    if (this.#tickTimer) clearInterval(this.#tickTimer);
    await settledWithin([this.#membership.stopHeartbeat(), this.#tickRun ?? Promise.resolve(), this.#retention.stop()], IN_FLIGHT_WAIT_MS);
    this.#offSignal?.();
    this.#feed.close();
    await this.#lifecycle.stop();
    // a node that stopped on purpose is not alive: others see it at once, not after deadAfterMs
    if (this.#started) await this.#membership.leave();
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
        void this.#membership.refresh();
        this.#scheduler.wake();
        break;
      case 'resync':
        this.#feed.resync();
        this.#scheduler.wake();
        this.#lifecycle.scanWork();
        void this.#membership.refresh();
        break;
    }
  }

  /**
   * Others declared this node lost (or an admin forgot it) while it was silent (frozen, cut off
   * from the database) and ended its work. Before it takes new work again: no scheduling, its
   * allocations in flight aborted, the Meta API entries of ended applications dropped, its host
   * reconciled (what the store no longer knows is deallocated), then it registers again.
   */
  async #reconcileAfterLost(lostAt: string | null): Promise<void> {
    this.#log.warn(
      { lostAt },
      lostAt
        ? 'this node was declared lost while silent; removing what is left before taking new work'
        : 'this node was forgotten by an admin; removing what is left before taking new work',
    );
    await this.#scheduler.disable();
    const r = await this.#lifecycle.reconcileAfterLost();
    this.#log.info(r, 'reconciled resources with the drivers after being lost');
    await this.#membership.rejoin();
    this.#enableScheduler();
  }

  /** Schedules (claims new work) unless stopping, in maintenance or paused (data dir full). */
  #enableScheduler(): void {
    if (this.#started && !this.#stopping && !this.#membership.maintenance && !this.#disk?.reason) this.#scheduler.enable();
  }

  /** The data dir's free space: below its mark no new work is claimed; above it again, claiming resumes. */
  async #checkDisk(): Promise<void> {
    if (!this.#disk || !(await this.#disk.check()) || this.#stopping) return;
    const reason = this.#disk.reason;
    if (reason !== null) {
      this.#log.warn({ reason }, 'taking no new work');
      await this.#scheduler.disable();
    } else {
      this.#log.info('data dir has room again; taking new work');
      this.#enableScheduler();
    }
  }

  workState(): ReturnType<CoreService['workState']> {
    const reason = this.#stopping
      ? 'the node is shutting down'
      : !this.#started
        ? 'the node is starting'
        : (this.#disk?.reason ?? (this.#membership.maintenance ? 'maintenance mode' : null));
    return reason === null ? { takes_work: true } : { takes_work: false, reason };
  }

  /** After each heartbeat: allocations stuck without a worker go back to NEW; look for work. */
  async #afterBeat(): Promise<void> {
    if (this.#stopping) return;
    await this.#lifecycle.sweepStuck(Math.max(1_000, 2 * this.#limits.heartbeatMs));
    this.#lifecycle.scanWork();
    this.#scheduler.wake();
  }

  #tick(): Promise<void> {
    this.#tickRun ??= this.#tickOnce().finally(() => {
      this.#tickRun = undefined;
    });
    return this.#tickRun;
  }

  /** Lifetimes that ended, and NEW applications past their wait_timeout. */
  async #tickOnce(): Promise<void> {
    try {
      await this.#checkDisk();
      const every = this.#limits.resourceCheckMs;
      if (every > 0 && Date.now() - this.#lastResourceCheck >= every && !this.#stopping) {
        this.#lastResourceCheck = Date.now();
        const vanished = await this.#lifecycle.checkAllocated();
        if (vanished > 0) this.#log.warn({ vanished }, 'resources vanished behind the node');
      }
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
    }
  }

  #lifetimeMs(app: ApplicationRow, label: LabelRow): number | null {
    if (app.lifetime) return parseDuration(app.lifetime, 'lifetime');
    if (label.lifetime) return parseDuration(label.lifetime, 'lifetime');
    return this.#defaultLifetimeMs;
  }

  // ── users, labels, applications: see the services ──────────────────────

  /** the first admin's token when the store has no user yet, else null */
  readonly bootstrapAdmin = (): Promise<string | null> => this.#users.bootstrapAdmin();
  readonly authenticate: CoreService['authenticate'] = (...a) => this.#users.authenticate(...a);
  readonly authenticateCached: NonNullable<CoreService['authenticateCached']> = (...a) => this.#users.authenticateCached(...a);
  readonly createUser: CoreService['createUser'] = (...a) => this.#users.createUser(...a);
  readonly listUsers: CoreService['listUsers'] = (...a) => this.#users.listUsers(...a);
  readonly getUser: CoreService['getUser'] = (...a) => this.#users.getUser(...a);
  readonly deleteUser: CoreService['deleteUser'] = (caller, name, options = {}) =>
    this.#users.deleteUser(caller, name, options, { deallocate: (c, uid) => this.#apps.deallocate(c, uid) });
  readonly createToken: CoreService['createToken'] = (...a) => this.#users.createToken(...a);
  readonly listTokens: CoreService['listTokens'] = (...a) => this.#users.listTokens(...a);
  readonly revokeToken: CoreService['revokeToken'] = (...a) => this.#users.revokeToken(...a);
  readonly addUserKey: CoreService['addUserKey'] = (...a) => this.#keys.addKey(...a);
  readonly listUserKeys: CoreService['listUserKeys'] = (...a) => this.#keys.listKeys(...a);
  readonly deleteUserKey: CoreService['deleteUserKey'] = (...a) => this.#keys.deleteKey(...a);
  readonly callerForKey: CoreService['callerForKey'] = (...a) => this.#keys.callerForKey(...a);
  readonly openAccess: CoreService['openAccess'] = (...a) => this.#access.openAccess(...a);
  readonly releaseAccess: CoreService['releaseAccess'] = (...a) => this.#access.release(...a);

  readonly createLabel: CoreService['createLabel'] = (...a) => this.#labels.createLabel(...a);
  readonly listLabels: CoreService['listLabels'] = (...a) => this.#labels.listLabels(...a);
  readonly getLabel: CoreService['getLabel'] = (...a) => this.#labels.getLabel(...a);
  readonly deleteLabel: CoreService['deleteLabel'] = (...a) => this.#labels.deleteLabel(...a);
  readonly getLabelOwner: CoreService['getLabelOwner'] = (...a) => this.#labels.getLabelOwner(...a);
  readonly setLabelOwner: CoreService['setLabelOwner'] = (...a) => this.#labels.setLabelOwner(...a);

  readonly createApplication: CoreService['createApplication'] = (...a) => this.#apps.createApplication(...a);
  readonly listApplications: CoreService['listApplications'] = (...a) => this.#apps.listApplications(...a);
  readonly getApplication: CoreService['getApplication'] = (...a) => this.#apps.getApplication(...a);
  readonly getState: CoreService['getState'] = (...a) => this.#apps.getState(...a);
  readonly listStates: CoreService['listStates'] = (...a) => this.#apps.listStates(...a);
  readonly getResource: CoreService['getResource'] = (...a) => this.#apps.getResource(...a);
  readonly deallocate: CoreService['deallocate'] = (...a) => this.#apps.deallocate(...a);
  readonly listTasks: CoreService['listTasks'] = (...a) => this.#apps.listTasks(...a);

  async listSessions(caller: Caller, uid: string): Promise<AccessSession[]> {
    await this.#apps.getApplication(caller, uid); // NOT_FOUND unless the caller may see it
    return (await this.#store.listSessions(uid, MAX_SESSIONS_LISTED)).map(toAccessSession);
  }
  readonly createTask: CoreService['createTask'] = (...a) => this.#apps.createTask(...a);
  readonly getConsole: CoreService['getConsole'] = (...a) => this.#apps.getConsole(...a);
  readonly listResources: CoreService['listResources'] = (...a) => this.#apps.listResources(...a);

  // ── nodes: see nodes/membership.ts ─────────────────────────────────────

  readonly listNodes: CoreService['listNodes'] = () => this.#membership.listNodes();
  #sshGate: { address: string; fingerprint: string } | undefined;

  /** the SSH gate's address and host key fingerprint, shown in thisNode() */
  setSshGate(gate: { address: string; fingerprint: string }): void {
    this.#sshGate = gate;
  }

  async thisNode(_caller?: Caller): ReturnType<CoreService['thisNode']> {
    const [info, storage] = await Promise.all([this.#membership.thisNode(), this.#storage.get()]);
    return this.#sshGate ? { ...info, storage, ssh_gate: this.#sshGate } : { ...info, storage };
  }

  async backupDatabase(caller: Caller): ReturnType<CoreService['backupDatabase']> {
    requireAdmin(caller, 'take a database backup');
    if (this.#store.dialect !== 'sqlite') {
      throw new CoreError(
        'CONFLICT',
        'this node stores its state in PostgreSQL: back it up with pg_dump (an online backup here is for SQLite only)',
      );
    }
    this.#log.info({ by: caller.name }, 'database backup started');
    return takeBackup(this.#store, this.#dataDir);
  }

  /** Cached images and kept disks live on each node's host: only the node itself lists or removes them. */
  async #thisNodeOnly(node: string): Promise<StoredItems> {
    if (node !== this.#node.name && node !== 'this') {
      const other = (await this.#membership.listNodes()).find((n) => n.name === node);
      if (!other) throw new CoreError('NOT_FOUND', `no node named ${node}`);
      throw new CoreError('CONFLICT', `node ${node} keeps its own images and disks: ask its API at ${other.address}`);
    }
    this.#stored ??= new StoredItems(this.#drivers);
    return this.#stored;
  }

  async listStored(caller: Caller, node: string, kind: 'images' | 'disks'): ReturnType<CoreService['listStored']> {
    requireAdmin(caller, `list a node's ${kind}`);
    return (await this.#thisNodeOnly(node)).list(kind);
  }

  async removeStored(caller: Caller, node: string, kind: 'images' | 'disks', id: string, driver?: string): Promise<void> {
    requireAdmin(caller, `remove a node's ${kind}`);
    await (await this.#thisNodeOnly(node)).remove(kind, id, driver);
    this.#log.info({ node, kind, id, driver, by: caller.name }, 'stored item removed by an admin');
  }

  async forgetNode(caller: Caller, name: string): ReturnType<CoreService['forgetNode']> {
    requireAdmin(caller, 'forget a node');
    if (typeof name !== 'string' || name === '') throw new CoreError('INVALID', 'name: the node to forget', { field: 'name' });
    if (name === this.#node.name) {
      throw new CoreError('CONFLICT', `node ${name} is the node answering this request: ask another node to forget it after stopping it`);
    }
    const r = await this.#store.forgetNode(name, this.#limits.deadAfterMs);
    if ('refused' in r) {
      if (r.refused === 'unknown') throw new CoreError('NOT_FOUND', `no node named ${name}`);
      throw new CoreError(
        'CONFLICT',
        `node ${name} still answers (last heartbeat ${r.heartbeatAt}): stop it first; it can be forgotten once silent for ${this.#limits.deadAfterMs / 1000} s`,
      );
    }
    this.#log.warn({ forgotten: name, by: caller.name, ...r }, 'node forgotten; its work ended');
    await this.#membership.refresh();
    return { name, lost_at: r.lostAt, requeued: r.requeued, failed: r.failed, deallocated: r.deallocated };
  }

  async setMaintenance(caller: Caller, on: boolean): ReturnType<CoreService['setMaintenance']> {
    requireAdmin(caller, 'change maintenance mode');
    if (typeof on !== 'boolean') throw new CoreError('INVALID', 'enabled: true or false', { field: 'enabled' });
    await this.#membership.setMaintenance(on, this.#started);
    if (on) await this.#scheduler.disable();
    else this.#enableScheduler();
    this.#log.info({ maintenance: on, by: caller.name }, 'maintenance mode changed');
    return this.#membership.thisNode();
  }

  // ── events, Meta API ────────────────────────────────────────────────────

  subscribe(caller: Caller, afterId: string | undefined, onEvent: (event: StateEvent) => void, flow?: EventFlow): () => void {
    let after: number | undefined;
    if (afterId !== undefined && afterId !== '') {
      if (!EVENT_ID.test(afterId)) {
        throw new CoreError('INVALID', `Last-Event-ID: "${afterId.slice(0, 40)}" is not an event id (a number from this event stream)`, {
          field: 'Last-Event-ID',
        });
      }
      after = Number(afterId);
    }
    return this.#feed.subscribe(caller, after, onEvent, flow);
  }

  async metadataFor(identity: MetaIdentity): Promise<Record<string, unknown> | null> {
    if (identity.kind === 'address') return this.#meta.byAddress(identity.address);
    if (identity.kind === 'hwaddr') return this.#meta.byHwaddr(identity.hwaddr);
    return null;
  }
}
