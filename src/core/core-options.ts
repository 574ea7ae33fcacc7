import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { DriverCapacity, Fingerprint, ResourceDriver } from '../contract/index.js';
import type { Store } from '../store/store.js';
import { DEFAULT_METADATA_LIMITS, type MetadataLimits } from './metadata-limits.js';
import type { DiskWatch } from './nodes/disk-guard.js';

/** One driver instance of this node, created and prepare()d by the composition root. */
export interface DriverInstance {
  /** instance name: "test", "docker", "docker/ssd" — what label definitions name in `driver` */
  instance: string;
  driver: ResourceDriver;
  /** false = known but not usable here (fingerprint says why); it gets no work */
  enabled: boolean;
  fingerprint: Fingerprint;
  /** totals this instance can hold; default: driver.capacity() if it has one, else node-limited only */
  capacity?: DriverCapacity;
}

/** This node: identity and capacity. */
export interface NodeConfig {
  name: string;
  /** the node's API URL, shown in GET /nodes */
  address: string;
  /** cores */
  cpu: number;
  /** GB */
  ram: number;
  /** how much more than `cpu` may be handed out (1 = none) */
  cpu_overbook: number;
  ram_overbook: number;
  tags: Record<string, string>;
}

export interface CoreLimits {
  /** failed allocations tolerated before ERROR (every definition gets at least one try) */
  allocateRetries: number;
  /** driver.deallocate attempts before ERROR */
  deallocateRetries: number;
  /** first backoff between deallocate attempts (doubles each time) */
  deallocateBackoffMs: number;
  deallocateBackoffMaxMs: number;
  /** how often this node writes its heartbeat (and checks others') */
  heartbeatMs: number;
  /** a node whose heartbeat is older than this is dead: its ELECTED work is re-elected */
  deadAfterMs: number;
  /**
   * a node whose heartbeat is older than this (by the database's clock; longer than deadAfterMs)
   * is lost: its applications end and their capacity is released
   */
  nodeLostAfterMs: number;
  /** safety timer for lifetimes and wait timeouts (the hot path never waits for it) */
  tickMs: number;
  /** how often every ALLOCATED resource is checked with its driver (a backend that lost it → ERROR); 0 = never */
  resourceCheckMs: number;
  /** NEW applications looked at per claim page */
  claimPageSize: number;
  /** at most this many NEW applications looked at per claim pass */
  claimMaxScan: number;
  /** how long a verified token is remembered */
  tokenCacheMs: number;
  /** an allocate() taking longer counts as failed (if it finishes later, its resource is removed) */
  allocateTimeoutMs: number;
  /** a deallocate() taking longer counts as a failed attempt */
  deallocateTimeoutMs: number;
  /** a snapshot taking longer fails its task */
  snapshotTimeoutMs: number;
  /** stop() waits at most this long for driver calls in flight */
  stopTimeoutMs: number;
  /** bounds of label and application metadata (depth, keys, key length, JSON size) */
  metadata: MetadataLimits;
  /** finished applications (DEALLOCATED, ERROR) older than this are deleted with their history (config `retention`) */
  retentionMs: number;
  /** how often retention runs */
  retentionEveryMs: number;
  /** applications deleted per transaction */
  retentionBatch: number;
}

export const DEFAULT_LIMITS: Readonly<CoreLimits> = Object.freeze({
  allocateRetries: 3,
  deallocateRetries: 10,
  deallocateBackoffMs: 200,
  deallocateBackoffMaxMs: 30_000,
  heartbeatMs: 5_000,
  deadAfterMs: 30_000,
  nodeLostAfterMs: 5 * 60_000,
  tickMs: 1_000,
  resourceCheckMs: 60_000,
  claimPageSize: 256,
  claimMaxScan: 5_000,
  tokenCacheMs: 30_000,
  allocateTimeoutMs: 15 * 60_000,
  deallocateTimeoutMs: 10 * 60_000,
  snapshotTimeoutMs: 60 * 60_000,
  stopTimeoutMs: 60_000,
  metadata: DEFAULT_METADATA_LIMITS,
  retentionMs: 30 * 86_400_000,
  retentionEveryMs: 10 * 60_000,
  retentionBatch: 500,
});

/**
 * What `new Core(options)` takes. The composition root owns the store and the driver instances
 * (creates, prepares and closes them); the core only uses them between start() and stop().
 */
export interface CoreOptions {
  store: Store;
  drivers: DriverInstance[];
  node: NodeConfig;
  log: Logger;
  /** metrics are registered here (one registry per Core) */
  metrics: Registry;
  defaults?: {
    /** lifetime of resources whose label and application set none ("2h"); none = unlimited */
    lifetime?: string;
  };
  limits?: Partial<CoreLimits>;
  /** where the kernel's neighbour table is (tests point it elsewhere) */
  arpTablePath?: string;
  /** the data dir's file system: below its free-space mark the node takes no new work */
  disk?: DiskWatch;
  /** the node's data dir, whose size GET /nodes/this reports */
  dataDir?: string;
}

export interface StopOptions {
  /** wait until every resource of this node has ended (deallocated or expired) before stopping */
  wait?: boolean;
  /** give up waiting for resources after this long (default: wait as long as it takes) */
  timeoutMs?: number;
}
