import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import type { DriverContext, MetaAccess } from '../../contract/index.js';
import { TestDriver, type TestDriverOptions } from '../../drivers/test/index.js';
import type { ApplicationStatus, StateEvent } from '../../model/index.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/store.js';
import { createTestDatabase, type TestDatabase, type TestDialect } from '../../store/testing/index.js';
import { Core } from '../core.js';
import type { CoreLimits, DriverInstance, NodeConfig } from '../core-options.js';
import type { Caller } from '../core-service.js';

/** Helpers for the core's tests: a Core over a real store and the real `test` driver. */

export const ADMIN: Caller = { id: 'admin', name: 'admin', role: 'admin' };
export const ALICE: Caller = { id: 'alice', name: 'alice', role: 'user' };
export const BOB: Caller = { id: 'bob', name: 'bob', role: 'user' };

export const silentLog: Logger = pino({ level: 'silent' });

const noMeta: MetaAccess = {
  address: '127.0.0.1:0',
  listen: async () => async () => {},
  handlerFor: () => (_req, res) => {
    res.statusCode = 404;
    res.end();
  },
};

/** Fast timers so tests finish quickly (nothing here asserts a timing). */
export const FAST_LIMITS: Partial<CoreLimits> = {
  heartbeatMs: 200,
  deadAfterMs: 1_000,
  tickMs: 50,
  deallocateBackoffMs: 20,
  deallocateBackoffMaxMs: 100,
  tokenCacheMs: 60_000,
};

export interface NodeSpec {
  name?: string;
  cpu?: number;
  ram?: number;
  cpuOverbook?: number;
  /** test driver node config (cpu, ram, fail_*, delay_*) */
  driverConfig?: Record<string, number>;
  driverOptions?: TestDriverOptions;
  /** reuse a driver data dir (restart tests) */
  dataDir?: string;
  limits?: Partial<CoreLimits>;
  defaultLifetime?: string;
  arpTablePath?: string;
  /** extra driver instances */
  extraDrivers?: DriverInstance[];
  /** wraps the node's store before the core gets it (e.g. a FailingStore) */
  wrapStore?: (store: Store) => Store;
}

export interface TestNode {
  core: Core;
  store: Store;
  driver: TestDriver;
  dataDir: string;
  registry: Registry;
  name: string;
  /** stops the core and closes its store */
  close(): Promise<void>;
}

export class Harness {
  readonly db: TestDatabase;
  readonly #dirs: string[] = [];
  readonly #nodes: TestNode[] = [];

  private constructor(db: TestDatabase) {
    this.db = db;
  }

  static async create(kind: TestDialect = 'sqlite'): Promise<Harness> {
    return new Harness(await createTestDatabase(kind));
  }

  async tempDir(): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'shoal-core-'));
    this.#dirs.push(d);
    return d;
  }

  /** A started node (own store connection) running the test driver. */
  async node(spec: NodeSpec = {}): Promise<TestNode> {
    const name = spec.name ?? 'node-1';
    const dataDir = spec.dataDir ?? (await this.tempDir());
    const ctx: DriverContext = { instance: 'test', nodeName: name, dataDir, log: silentLog, meta: noMeta };
    const driver = new TestDriver(ctx, spec.driverOptions ?? {});
    await driver.prepare(JSON.stringify(spec.driverConfig ?? {}));
    const opened = await openStore(this.db.url);
    const store = spec.wrapStore ? spec.wrapStore(opened) : opened;
    const registry = new Registry();
    const node: NodeConfig = {
      name,
      address: `https://${name}.test:8001`,
      cpu: spec.cpu ?? 4,
      ram: spec.ram ?? 8,
      cpu_overbook: spec.cpuOverbook ?? 1,
      ram_overbook: 1,
      tags: { os: 'linux' },
    };
    const drivers: DriverInstance[] = [
      { instance: 'test', driver, enabled: true, fingerprint: await driver.fingerprint() },
      ...(spec.extraDrivers ?? []),
    ];
    const core = new Core({
      store,
      drivers,
      node,
      log: silentLog,
      metrics: registry,
      defaults: spec.defaultLifetime ? { lifetime: spec.defaultLifetime } : {},
      limits: { ...FAST_LIMITS, ...(spec.limits ?? {}) },
      ...(spec.arpTablePath ? { arpTablePath: spec.arpTablePath } : {}),
      dataDir,
    });
    await core.start();
    let closed = false;
    const t: TestNode = {
      core,
      store,
      driver,
      dataDir,
      registry,
      name,
      close: async () => {
        if (closed) return;
        closed = true;
        await core.stop();
        await store.close();
      },
    };
    this.#nodes.push(t);
    return t;
  }

  async close(): Promise<void> {
    for (const n of this.#nodes.splice(0)) await n.close().catch(() => {});
    for (const d of this.#dirs.splice(0)) await rm(d, { recursive: true, force: true });
    await this.db.drop();
  }
}

/** Polls `check` every 10 ms until it returns a value (not undefined/false) or `timeoutMs` passes. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; i < 1_000_000; i++) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}

/** Waits for an application to reach `status` (as seen by an admin). */
export async function waitStatus(
  core: Core,
  uid: string,
  status: ApplicationStatus | ApplicationStatus[],
  timeoutMs = 30_000,
): Promise<string> {
  const want = Array.isArray(status) ? status : [status];
  return waitFor(
    `${uid} to be ${want.join('|')}`,
    async () => {
      const s = await core.getState(ADMIN, uid);
      return want.includes(s.status) ? s.description : undefined;
    },
    timeoutMs,
  );
}

/**
 * Resolves with the first state event of `uid` whose status is one of `status` — from the event
 * feed (replayed from the start, so an event before the call counts), no polling. Rejects after
 * `timeoutMs` naming the last status seen.
 */
export function waitForEvent(
  core: Core,
  uid: string,
  status: ApplicationStatus | ApplicationStatus[],
  timeoutMs = 30_000,
): Promise<StateEvent> {
  const want = Array.isArray(status) ? status : [status];
  return new Promise((resolve, reject) => {
    let last = 'none';
    let off: (() => void) | undefined;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`timed out waiting for ${uid} to be ${want.join('|')} (last ${last})`)), timeoutMs);
    const finish = (result: StateEvent | Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off?.();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    off = core.subscribe(ADMIN, '0', (e) => {
      if (e.application_uid !== uid) return;
      last = e.status;
      if (want.includes(e.status)) finish(e);
    });
    if (done) off();
  });
}

/** A label body for the test driver. */
export function testLabel(
  name: string,
  opts: {
    cpu?: number;
    ram?: number;
    options?: Record<string, number>;
    definitions?: unknown[];
    lifetime?: string;
    wait_timeout?: string;
    metadata?: Record<string, unknown>;
  } = {},
) {
  return {
    name,
    definitions: (opts.definitions ?? [
      { driver: 'test', options: opts.options ?? {}, requirements: { cpu: opts.cpu ?? 1, ram: opts.ram ?? 1 } },
    ]) as never,
    metadata: opts.metadata ?? { LABEL_KEY: 'label-value', SHARED: 'from-label' },
    ...(opts.lifetime ? { lifetime: opts.lifetime } : {}),
    ...(opts.wait_timeout ? { wait_timeout: opts.wait_timeout } : {}),
  };
}
