import type { Logger } from 'pino';
import type { DriverCapacity } from '../../contract/index.js';
import type { DriverInstanceInfo, NodeInfo } from '../../model/index.js';
import type { NodeRow, Store } from '../../store/store.js';
import type { CoreLimits, DriverInstance, NodeConfig } from '../core-options.js';
import { offerOfNode } from '../scheduler/capacity-check.js';
import type { NodeOffer } from '../scheduler/placement.js';

const now = (): string => new Date().toISOString();

export interface MembershipOptions {
  store: Store;
  log: Logger;
  /** this node, checked (positive capacity and overbooking) */
  node: NodeConfig;
  limits: CoreLimits;
  drivers: ReadonlyMap<string, DriverInstance>;
  /** whether this node serves now (started, not stopping): what its own NodeInfo says as `alive` */
  serving(): boolean;
  /** why this node takes no new work now although it serves (data dir full), or null: its own NodeInfo says it */
  paused(): string | null;
  /** this node's upkeep after each heartbeat (stuck allocations, work scan, scheduler) */
  afterBeat(): Promise<void>;
  /**
   * A heartbeat found this node declared lost (`lostAt`) or forgotten (its row gone, null): its
   * work was ended by others. Resolves once whatever is left on its host is removed; the node
   * then registers again (rejoin).
   */
  onLost(lostAt: string | null): Promise<void>;
}

/**
 * This node's membership of the cluster of nodes sharing the database: its row (capacity, drivers,
 * maintenance mode), the heartbeat, the list of the other nodes with what they offer, taking back
 * the work of nodes whose heartbeat stopped (re-election after `deadAfterMs`), and ending the work
 * of nodes silent for `nodeLostAfterMs` (declared lost). Heartbeats are stamped, and silence judged,
 * by the database's clock: a node whose own clock is skewed is neither dead nor lost for it.
 */
export class NodeMembership {
  readonly #o: MembershipOptions;
  readonly #store: Store;
  readonly #caps = new Map<string, DriverCapacity | undefined>();
  #offer: NodeOffer;
  #nodes: NodeRow[] = [];
  #maintenance = false;
  #startedAt = now();
  #timer: NodeJS.Timeout | undefined;
  /** the heartbeat running now (one at a time: a slow database skips beats) */
  #beat: Promise<void> | undefined;
  #refresh: Promise<void> | undefined;
  /** the database's clock minus this host's, as of the last heartbeat */
  #clockOffsetMs = 0;

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.#store = options.store;
    for (const d of options.drivers.values()) this.#caps.set(d.instance, d.capacity);
    this.#offer = this.#makeOffer();
  }

  /** What this node offers the scheduler (its capacity × overbooking, its enabled driver instances). */
  get offer(): NodeOffer {
    return this.#offer;
  }

  /** The nodes as last read from the store. */
  get nodes(): readonly NodeRow[] {
    return this.#nodes;
  }

  get maintenance(): boolean {
    return this.#maintenance;
  }

  /**
   * Asks enabled drivers without a configured capacity for theirs, then registers this node,
   * keeping the maintenance mode it had.
   */
  async join(): Promise<void> {
    this.#startedAt = now();
    for (const inst of this.#o.drivers.values()) {
      if (inst.capacity === undefined && inst.enabled && inst.driver.capacity) {
        try {
          this.#caps.set(inst.instance, await inst.driver.capacity());
        } catch (err) {
          this.#o.log.warn({ driver: inst.instance, err: (err as Error).message }, 'driver capacity unknown; limited by the node only');
        }
      }
    }
    this.#offer = this.#makeOffer();
    this.#learnClock(await this.#store.dbNow());
    const existing = await this.#store.getNode(this.#o.node.name);
    this.#maintenance = existing?.maintenance ?? false;
    await this.#store.upsertNode(this.#nodeRow(), [{ kind: 'nodes' }]);
  }

  /** Registers this node again after it was declared lost or forgotten and has reconciled its host. */
  async rejoin(): Promise<void> {
    this.#learnClock(await this.#store.dbNow());
    const existing = await this.#store.getNode(this.#o.node.name);
    this.#maintenance = existing?.maintenance ?? this.#maintenance;
    await this.#store.upsertNode(this.#nodeRow(), [{ kind: 'nodes' }]);
    await this.refresh();
  }

  /** Beats every `heartbeatMs` from now on. */
  startHeartbeat(): void {
    this.#timer = setInterval(() => void this.#heartbeat(), this.#o.limits.heartbeatMs);
    this.#timer.unref();
  }

  /** Stops beating; resolves when the beat running now (if any) has ended. */
  stopHeartbeat(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#beat ?? Promise.resolve();
  }

  /**
   * Tells the others at once that this node stopped on purpose (not after deadAfterMs): its last
   * heartbeat is dated deadAfterMs (and a margin) back. It counts as silent from then on: lost (its
   * work ended) about nodeLostAfterMs − deadAfterMs after it stopped, unless it starts again before.
   */
  async leave(): Promise<void> {
    // a margin over deadAfterMs: the others' estimates of the database's clock differ from ours a little
    const { deadAfterMs, heartbeatMs } = this.#o.limits;
    const lastBeat = new Date(this.#dbNowMs() - deadAfterMs - Math.max(heartbeatMs, 1_000)).toISOString();
    await this.#store.heartbeat(this.#o.node.name, lastBeat).catch(() => {});
    await this.#refresh;
  }

  /** Rereads the node list (one read at a time; callers during a read share it). Never rejects. */
  refresh(): Promise<void> {
    this.#refresh ??= this.#store
      .listNodes()
      .then((rows) => {
        this.#nodes = rows;
      })
      .catch((err: Error) => this.#o.log.warn({ err: err.message }, 'could not read the node list'))
      .finally(() => {
        this.#refresh = undefined;
      });
    return this.#refresh;
  }

  /** Other nodes that answer, plus this one. */
  liveOffers(): NodeOffer[] {
    const staleBefore = this.#staleBefore();
    const others = this.#nodes
      .filter((n) => n.name !== this.#o.node.name && n.lost_at === null && n.heartbeat_at >= staleBefore)
      .map(offerOfNode);
    return [this.#offer, ...others];
  }

  async listNodes(): Promise<NodeInfo[]> {
    const [rows, usage] = await Promise.all([this.#store.listNodes(), this.#store.usageByNode()]);
    return rows.map((n) => this.#nodeInfo(n, usage.get(n.name)));
  }

  async thisNode(): Promise<NodeInfo> {
    const [row, usage] = await Promise.all([this.#store.getNode(this.#o.node.name), this.#store.usage(this.#o.node.name)]);
    return this.#nodeInfo(row ?? this.#nodeRow(), { cpu: usage.cpu, ram: usage.ram });
  }

  /** Records the maintenance mode (registering this node first if it has not started). */
  async setMaintenance(on: boolean, started: boolean): Promise<void> {
    if (!started) await this.#store.upsertNode(this.#nodeRow());
    await this.#store.setMaintenance(this.#o.node.name, on);
    this.#maintenance = on;
  }

  #heartbeat(): Promise<void> {
    this.#beat ??= this.#beatOnce().finally(() => {
      this.#beat = undefined;
    });
    return this.#beat;
  }

  async #beatOnce(): Promise<void> {
    try {
      const asked = Date.now();
      const beat = await this.#store.heartbeat(this.#o.node.name);
      if (beat === undefined || beat.lost_at !== null) {
        await this.#o.onLost(beat?.lost_at ?? null);
      } else {
        this.#learnClock(beat.heartbeat_at, asked);
      }
      await this.refresh();
      await this.#reelectFromDeadNodes();
      await this.#declareLostNodes();
      await this.#o.afterBeat();
    } catch (err) {
      this.#o.log.error({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  async #reelectFromDeadNodes(): Promise<void> {
    const staleBefore = this.#staleBefore();
    for (const n of this.#nodes) {
      if (n.name === this.#o.node.name || n.heartbeat_at >= staleBefore) continue;
      const moved = await this.#store.reelectFromDeadNode(
        n.name,
        staleBefore,
        `node ${n.name} stopped answering (no heartbeat since ${n.heartbeat_at}); waiting for another node`,
        now(),
      );
      if (moved > 0) this.#o.log.warn({ deadNode: n.name, moved }, 're-electing the work of a dead node');
    }
  }

  /** Ends the work of other nodes silent for longer than nodeLostAfterMs (the store re-checks by the database's clock). */
  async #declareLostNodes(): Promise<void> {
    const silentMs = this.#o.limits.nodeLostAfterMs;
    const lostBefore = new Date(this.#dbNowMs() - silentMs).toISOString();
    for (const n of this.#nodes) {
      if (n.name === this.#o.node.name || n.lost_at !== null || n.heartbeat_at >= lostBefore) continue;
      const ended = await this.#store.declareNodeLost(n.name, silentMs);
      if (ended)
        this.#o.log.warn({ lostNode: n.name, lastHeartbeat: n.heartbeat_at, ...ended }, 'declared a silent node lost; its work ended');
    }
  }

  /** The database's clock as this node estimates it (its own clock plus the offset seen at the last heartbeat). */
  #dbNowMs(): number {
    return Date.now() + this.#clockOffsetMs;
  }

  /** `dbTime` was the database's clock between `askedAt` (this host's clock) and now. */
  #learnClock(dbTime: string, askedAt = Date.now()): void {
    const t = Date.parse(dbTime);
    if (Number.isFinite(t)) this.#clockOffsetMs = t - (askedAt + Date.now()) / 2;
  }

  #staleBefore(): string {
    return new Date(this.#dbNowMs() - this.#o.limits.deadAfterMs).toISOString();
  }

  #makeOffer(): NodeOffer {
    const { node } = this.#o;
    const drivers = new Map<string, DriverCapacity | undefined>();
    for (const d of this.#o.drivers.values()) if (d.enabled) drivers.set(d.instance, this.#caps.get(d.instance));
    return { node: node.name, cpu: node.cpu * node.cpu_overbook, ram: node.ram * node.ram_overbook, drivers };
  }

  #driverInfos(): DriverInstanceInfo[] {
    return [...this.#o.drivers.values()].map((d) => {
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
    const { node } = this.#o;
    return {
      name: node.name,
      address: node.address,
      cpu: node.cpu,
      ram: node.ram,
      cpu_overbook: node.cpu_overbook,
      ram_overbook: node.ram_overbook,
      tags: node.tags,
      drivers: this.#driverInfos(),
      heartbeat_at: new Date(this.#dbNowMs()).toISOString(),
      started_at: this.#startedAt,
      maintenance: this.#maintenance,
      lost_at: null,
    };
  }

  #nodeInfo(n: NodeRow, used: { cpu: number; ram: number } | undefined): NodeInfo {
    const self = n.name === this.#o.node.name;
    return {
      name: n.name,
      address: n.address,
      capacity: { cpu: n.cpu, ram: n.ram, cpu_overbook: n.cpu_overbook, ram_overbook: n.ram_overbook },
      used: used ?? { cpu: 0, ram: 0 },
      tags: n.tags,
      drivers: self ? this.#driverInfos() : n.drivers,
      maintenance: self ? this.#maintenance : n.maintenance,
      alive: self ? this.#o.serving() : n.lost_at === null && n.heartbeat_at >= this.#staleBefore(),
      heartbeat_at: n.heartbeat_at,
      started_at: n.started_at,
      ...(n.lost_at !== null ? { lost_at: n.lost_at } : {}),
      ...(self && this.#o.paused() !== null ? { not_taking_work: this.#o.paused()! } : {}),
    };
  }
}
