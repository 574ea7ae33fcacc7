import { testDriverAccess } from './access.js';
import {
  DriverError,
  StatusAllocated,
  StatusNone,
  type AllocateContext,
  type AllocateResult,
  type DriverCapacity,
  type DriverContext,
  type Fingerprint,
  type ResourceDriver,
  type ResourceStatus,
} from '../../contract/index.js';
import { parseConfig, type InjectionKey, type TestDriverConfig } from './config.js';
import { parseTestDefinition } from './definition.js';
import { effectiveInjection, inject, type EffectiveInjection } from './failure.js';
import { isMac, randomMac } from '../shared/mac.js';
import { loopbackBlock, randomLoopback } from './identity.js';
import { RESOURCE_FILE_VERSION, ResourceFiles, type ResourceRecord, type SnapshotRecord } from './state.js';

export const TEST_DRIVER_NAME = 'test';

/** What the in-memory index keeps per resource (loaded from the files at prepare). */
interface Entry {
  ipaddr: string;
  cpu: number;
  ram: number;
  options: Partial<Record<InjectionKey, number>>;
  /** allocate is still running: reserved, no file yet */
  pending: boolean;
}

export interface TestDriverOptions {
  /** random source in [0, 1) for failure injection (default Math.random) */
  random?: () => number;
}

function backend(what: string, err: unknown): DriverError {
  if (err instanceof DriverError) return err;
  return new DriverError('BACKEND', `test driver: ${what} failed: ${(err as Error).message}`, { cause: err });
}

/**
 * The `test` driver: a real driver without a backend. Each resource is a JSON file under the
 * instance's data dir (written atomically), so resources survive a node restart; an in-memory
 * index loaded at prepare() keeps capacity and addresses cheap to account.
 */
export class TestDriver implements ResourceDriver {
  readonly #ctx: DriverContext;
  readonly #random: () => number;
  readonly #files: ResourceFiles;
  readonly #block: number;
  #config: TestDriverConfig | undefined;
  readonly #index = new Map<string, Entry>();
  readonly #ips = new Set<string>();
  #usedCpu = 0;
  #usedRam = 0;

  /** refuses: a test resource has no environment to enter */
  readonly access = testDriverAccess;

  constructor(ctx: DriverContext, options: TestDriverOptions = {}) {
    this.#ctx = ctx;
    this.#random = options.random ?? Math.random;
    this.#files = new ResourceFiles(ctx.dataDir);
    this.#block = loopbackBlock(ctx.instance);
  }

  name(): string {
    return TEST_DRIVER_NAME;
  }

  /** Folder of the resource files (`DATA_DIR/resources`): one `<hwaddr with dashes>.json` each. */
  get resourcesDir(): string {
    return this.#files.resourcesDir;
  }

  /** Folder of the snapshot records (`DATA_DIR/snapshots`). */
  get snapshotsDir(): string {
    return this.#files.snapshotsDir;
  }

  #cfg(): TestDriverConfig {
    if (!this.#config) throw new DriverError('BACKEND', `test driver ${this.#ctx.instance}: prepare() was not called`);
    return this.#config;
  }

  #track(hwaddr: string, entry: Entry): void {
    this.#index.set(hwaddr, entry);
    if (entry.ipaddr) this.#ips.add(entry.ipaddr);
    this.#usedCpu += entry.cpu;
    this.#usedRam += entry.ram;
  }

  #forget(hwaddr: string): void {
    const entry = this.#index.get(hwaddr);
    if (!entry) return;
    this.#index.delete(hwaddr);
    this.#ips.delete(entry.ipaddr);
    this.#usedCpu -= entry.cpu;
    this.#usedRam -= entry.ram;
  }

  async prepare(config: string): Promise<void> {
    const parsed = parseConfig(config);
    let loaded: Awaited<ReturnType<ResourceFiles['load']>>;
    try {
      loaded = await this.#files.load();
    } catch (err) {
      throw backend(`reading ${this.#files.resourcesDir}`, err);
    }
    this.#index.clear();
    this.#ips.clear();
    this.#usedCpu = 0;
    this.#usedRam = 0;
    for (const rec of loaded.records) {
      this.#track(rec.hwaddr, { ipaddr: rec.ipaddr, cpu: rec.cpu ?? 0, ram: rec.ram ?? 0, options: rec.options ?? {}, pending: false });
    }
    for (const hwaddr of loaded.damaged) this.#track(hwaddr, { ipaddr: '', cpu: 0, ram: 0, options: {}, pending: false });
    if (loaded.damaged.length > 0) {
      this.#ctx.log.warn(
        { instance: this.#ctx.instance, damaged: loaded.damaged },
        'test driver: unreadable resource files (listed, can be deallocated)',
      );
    }
    if (loaded.removedTemp > 0) {
      this.#ctx.log.info({ instance: this.#ctx.instance, removed: loaded.removedTemp }, 'test driver: removed temp files left by a crash');
    }
    this.#config = parsed;
    this.#ctx.log.debug({ instance: this.#ctx.instance, resources: this.#index.size }, 'test driver: prepared');
  }

  async validateDefinition(definition: string): Promise<void> {
    parseTestDefinition(definition);
  }

  async allocate(definition: string, metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    const config = this.#cfg();
    const def = parseTestDefinition(definition);
    const { cpu, ram } = def.requirements;
    if (this.#usedCpu + cpu > config.cpu || this.#usedRam + ram > config.ram) {
      throw new DriverError(
        'NO_CAPACITY',
        `test driver ${this.#ctx.instance}: no capacity for cpu ${cpu} ram ${ram} ` +
          `(in use cpu ${this.#usedCpu}/${config.cpu}, ram ${this.#usedRam}/${config.ram})`,
      );
    }
    let hwaddr = randomMac();
    while (this.#index.has(hwaddr)) hwaddr = randomMac();
    const ipaddr = randomLoopback(this.#block, this.#ips);
    if (ipaddr === undefined) {
      throw new DriverError(
        'NO_CAPACITY',
        `test driver ${this.#ctx.instance}: every loopback address of 127.${this.#block}.0.0/16 is in use`,
      );
    }
    // Reserve before any wait, so concurrent allocations never share capacity, hwaddr or ipaddr.
    this.#track(hwaddr, { ipaddr, cpu, ram, options: def.options, pending: true });
    try {
      await inject('allocate', effectiveInjection(config, def.options), this.#random);
      const rec: ResourceRecord = {
        version: RESOURCE_FILE_VERSION,
        hwaddr,
        ipaddr,
        created_at: new Date().toISOString(),
        cpu,
        ram,
        disks: def.requirements.disks,
        network: def.requirements.network,
        options: def.options,
        metadata_keys: Object.keys(metadata ?? {}),
        ...(context ? { context } : {}),
      };
      try {
        await this.#files.write(rec);
      } catch (err) {
        throw backend(`writing the resource file of ${hwaddr}`, err);
      }
    } catch (err) {
      this.#forget(hwaddr);
      throw err;
    }
    const entry = this.#index.get(hwaddr);
    if (entry) entry.pending = false;
    this.#ctx.log.debug({ instance: this.#ctx.instance, hwaddr, ipaddr }, 'test driver: allocated');
    return { hwaddr, ipaddr };
  }

  #injectionFor(hwaddr: string): EffectiveInjection {
    return effectiveInjection(this.#cfg(), this.#index.get(hwaddr)?.options);
  }

  async status(hwaddr: string): Promise<ResourceStatus> {
    const injection = this.#injectionFor(hwaddr);
    if (!isMac(hwaddr)) return StatusNone;
    await inject('status', injection, this.#random);
    const settled = this.#index.get(hwaddr)?.pending === false;
    let exists: boolean;
    try {
      exists = await this.#files.exists(hwaddr);
    } catch (err) {
      throw backend(`reading the resource file of ${hwaddr}`, err);
    }
    if (!exists && settled) this.#forget(hwaddr); // its file was removed from outside
    return exists ? StatusAllocated : StatusNone;
  }

  async snapshot(hwaddr: string, full: boolean): Promise<string> {
    const injection = this.#injectionFor(hwaddr);
    if (!isMac(hwaddr) || this.#index.get(hwaddr)?.pending) {
      throw new DriverError('NOT_FOUND', `test driver: no resource ${JSON.stringify(hwaddr)}`);
    }
    await inject('snapshot', injection, this.#random);
    let rec: ResourceRecord | undefined;
    try {
      rec = await this.#files.read(hwaddr);
    } catch (err) {
      throw backend(`reading the resource file of ${hwaddr}`, err);
    }
    if (!rec) throw new DriverError('NOT_FOUND', `test driver: no resource ${hwaddr}`);
    const snap: SnapshotRecord = {
      version: RESOURCE_FILE_VERSION,
      hwaddr,
      full,
      created_at: new Date().toISOString(),
      disks: rec.disks ?? {},
      network: rec.network ?? '',
      cpu: rec.cpu,
      ram: rec.ram,
    };
    let file: string;
    try {
      file = await this.#files.writeSnapshot(snap);
    } catch (err) {
      throw backend(`writing the snapshot of ${hwaddr}`, err);
    }
    return JSON.stringify({ driver: TEST_DRIVER_NAME, hwaddr, full, file, disks: Object.keys(snap.disks) });
  }

  async deallocate(hwaddr: string): Promise<void> {
    const injection = this.#injectionFor(hwaddr);
    if (!isMac(hwaddr)) return;
    await inject('deallocate', injection, this.#random);
    try {
      await this.#files.remove(hwaddr);
    } catch (err) {
      throw backend(`removing the resource file of ${hwaddr}`, err);
    }
    if (this.#index.get(hwaddr)?.pending === false) this.#forget(hwaddr);
    this.#ctx.log.debug({ instance: this.#ctx.instance, hwaddr }, 'test driver: deallocated');
  }

  async capacity(): Promise<DriverCapacity> {
    const config = this.#cfg();
    return { cpu: config.cpu, ram: config.ram };
  }

  async listResources(): Promise<string[]> {
    this.#cfg();
    // only resources whose file was written before the listing started can be judged by it
    const settled = [...this.#index].filter(([, e]) => !e.pending).map(([hwaddr]) => hwaddr);
    let onDisk: string[];
    try {
      onDisk = await this.#files.list();
    } catch (err) {
      throw backend(`listing ${this.#files.resourcesDir}`, err);
    }
    const present = new Set(onDisk);
    for (const hwaddr of settled) {
      if (!present.has(hwaddr)) this.#forget(hwaddr); // removed from outside
    }
    return onDisk;
  }

  async fingerprint(): Promise<Fingerprint> {
    const config = this.#config;
    if (!config) return { health: 'unhealthy', description: 'test driver: not prepared', attributes: {} };
    return {
      health: 'healthy',
      description: `test driver: resources are files under ${this.#files.resourcesDir}`,
      attributes: {
        'test.cpu': String(config.cpu),
        'test.ram': String(config.ram),
        'test.resources': String(this.#index.size),
        'test.loopback': `127.${this.#block}.0.0/16`,
      },
    };
  }
}
