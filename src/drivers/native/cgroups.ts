/**
 * One cgroup per sandbox, under a parent this driver instance owns (`shoal-native-<tag>`), never
 * the cgroup the node itself runs in. Both layouts of the kernel:
 *
 * - v1 (one hierarchy per controller): <root>/{memory,cpu,pids}/shoal-native-<tag>/<id>/ with
 *   memory.limit_in_bytes + memory.memsw.limit_in_bytes (memory incl. swap, when swap accounting
 *   is on), cpu.cfs_period_us + cpu.cfs_quota_us, pids.max;
 * - v2 (unified): <root>/shoal-native-<tag>/<id>/ with memory.max + memory.swap.max 0 (no swap on
 *   top), cpu.max, pids.max; the parent's cgroup.subtree_control enables cpu, memory and pids.
 *
 * A sandbox's first process writes itself into cgroup.procs before it execs anything (sandbox.ts),
 * so nothing it starts is ever outside. Killing sweeps every process of the cgroup with SIGKILL
 * until it is empty (v2: cgroup.kill when the kernel has it); removal is rmdir.
 */
import { mkdir, readdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../../contract/index.js';
import { pathExists } from '../../lib/fs.js';

export interface CgroupLimits {
  cpu: number;
  ramBytes: number;
  pids: number;
}

/** The CFS period both layouts use (100 ms, the kernel's default). */
export const CPU_PERIOD_US = 100_000;
const V1_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;
const KILL_ROUNDS = 500;

export interface Cgroups {
  readonly version: 1 | 2;
  /** whether memory limits include swap (v1: swap accounting is on; v2: always) */
  readonly swapLimited: boolean;
  /** create the sandbox's cgroup and write its limits; on failure nothing is left */
  create(id: string, limits: CgroupLimits): Promise<void>;
  /** the cgroup.procs files a process must write its pid to (one per v1 hierarchy) */
  procsFiles(id: string): string[];
  /** the directories of the sandbox's cgroup (one per v1 hierarchy) */
  dirs(id: string): string[];
  /** pids in the sandbox's cgroup (empty when it does not exist) */
  pids(id: string): Promise<number[]>;
  exists(id: string): Promise<boolean>;
  /** ids of every sandbox cgroup of this instance */
  list(): Promise<string[]>;
  /** SIGKILL every process of the cgroup until it is empty */
  kill(id: string): Promise<void>;
  /** kill, then remove the cgroup (idempotent) */
  remove(id: string): Promise<void>;
  /** remove this instance's parent cgroup(s) when no sandbox cgroup is left in them */
  removeParent(): Promise<void>;
}

function parsePids(text: string): number[] {
  return text
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

async function readPids(file: string): Promise<number[]> {
  try {
    return parsePids(await readFile(file, 'utf8'));
  } catch {
    return [];
  }
}

async function write(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    throw new DriverError('BACKEND', `cannot write ${value.trim()} to ${file}: ${(err as Error).message}`, { cause: err });
  }
}

async function sweep(id: string, procs: () => Promise<number[]>, killFile?: string): Promise<void> {
  if (killFile && (await pathExists(killFile))) await writeFile(killFile, '1').catch(() => undefined);
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const pids = await procs();
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new DriverError('BACKEND', `the processes of sandbox ${id} did not all end after SIGKILL`);
}

async function rmdirRetry(dir: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw new DriverError('BACKEND', `cannot remove cgroup ${dir}: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new DriverError('BACKEND', `cgroup ${dir} stays busy`);
}

async function childDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) out.push(e.name);
  return out;
}

class CgroupsV1 implements Cgroups {
  readonly version = 1 as const;
  readonly swapLimited: boolean;
  readonly #parents: Record<(typeof V1_CONTROLLERS)[number], string>;

  constructor(root: string, parent: string, swapLimited: boolean) {
    this.#parents = { memory: join(root, 'memory', parent), cpu: join(root, 'cpu', parent), pids: join(root, 'pids', parent) };
    this.swapLimited = swapLimited;
  }

  dirs(id: string): string[] {
    return V1_CONTROLLERS.map((c) => join(this.#parents[c], id));
  }

  procsFiles(id: string): string[] {
    return this.dirs(id).map((d) => join(d, 'cgroup.procs'));
  }

  async create(id: string, limits: CgroupLimits): Promise<void> {
    try {
      for (const c of V1_CONTROLLERS) await mkdir(join(this.#parents[c], id), { recursive: true });
      const mem = join(this.#parents.memory, id);
      await write(join(mem, 'memory.limit_in_bytes'), String(limits.ramBytes));
      if (this.swapLimited) await write(join(mem, 'memory.memsw.limit_in_bytes'), String(limits.ramBytes));
      const cpu = join(this.#parents.cpu, id);
      await write(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await write(join(cpu, 'cpu.cfs_quota_us'), String(limits.cpu * CPU_PERIOD_US));
      await write(join(this.#parents.pids, id, 'pids.max'), String(limits.pids));
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      throw err;
    }
  }

  async pids(id: string): Promise<number[]> {
    const all = new Set<number>();
    for (const f of this.procsFiles(id)) for (const p of await readPids(f)) all.add(p);
    return [...all];
  }

  async exists(id: string): Promise<boolean> {
    for (const d of this.dirs(id)) if (await pathExists(d)) return true;
    return false;
  }

  async list(): Promise<string[]> {
    const ids = new Set<string>();
    for (const c of V1_CONTROLLERS) for (const n of await childDirs(this.#parents[c])) ids.add(n);
    return [...ids];
  }

  async kill(id: string): Promise<void> {
    await sweep(id, () => this.pids(id));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.exists(id))) return;
    await this.kill(id);
    for (const d of this.dirs(id)) await rmdirRetry(d);
  }

  async removeParent(): Promise<void> {
    for (const c of V1_CONTROLLERS) await rmdir(this.#parents[c]).catch(() => undefined);
  }
}

class CgroupsV2 implements Cgroups {
  readonly version = 2 as const;
  readonly swapLimited = true;
  readonly #root: string;
  readonly #parent: string;

  constructor(root: string, parent: string) {
    this.#root = root;
    this.#parent = join(root, parent);
  }

  dirs(id: string): string[] {
    return [join(this.#parent, id)];
  }

  procsFiles(id: string): string[] {
    return [join(this.#parent, id, 'cgroup.procs')];
  }

  /** cpu, memory and pids delegated down to the sandboxes' cgroups */
  async #enableControllers(): Promise<void> {
    const enabled = async (dir: string): Promise<string[]> =>
      (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/).filter(Boolean);
    const want = ['cpu', 'memory', 'pids'];
    for (const dir of [this.#root, this.#parent]) {
      const have = await enabled(dir);
      const missing = want.filter((c) => !have.includes(c));
      if (missing.length > 0) await write(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
    }
  }

  async create(id: string, limits: CgroupLimits): Promise<void> {
    await mkdir(this.#parent, { recursive: true });
    await this.#enableControllers();
    const dir = join(this.#parent, id);
    try {
      await mkdir(dir);
      await write(join(dir, 'memory.max'), String(limits.ramBytes));
      await write(join(dir, 'memory.swap.max'), '0');
      await write(join(dir, 'cpu.max'), `${limits.cpu * CPU_PERIOD_US} ${CPU_PERIOD_US}`);
      await write(join(dir, 'pids.max'), String(limits.pids));
    } catch (err) {
      await this.remove(id).catch(() => undefined);
      throw err;
    }
  }

  async pids(id: string): Promise<number[]> {
    return readPids(join(this.#parent, id, 'cgroup.procs'));
  }

  async exists(id: string): Promise<boolean> {
    return pathExists(join(this.#parent, id));
  }

  async list(): Promise<string[]> {
    return childDirs(this.#parent);
  }

  async kill(id: string): Promise<void> {
    await sweep(id, () => this.pids(id), join(this.#parent, id, 'cgroup.kill'));
  }

  async remove(id: string): Promise<void> {
    if (!(await this.exists(id))) return;
    await this.kill(id);
    await rmdirRetry(join(this.#parent, id));
  }

  async removeParent(): Promise<void> {
    await rmdir(this.#parent).catch(() => undefined);
  }
}

/**
 * The cgroup layout under `root`: v2 when it is a unified cgroup2 mount (cgroup.controllers there
 * lists cpu, memory and pids), else v1 with the memory, cpu and pids hierarchies mounted below it.
 */
export async function openCgroups(root: string, tag: string): Promise<Cgroups> {
  const parent = `shoal-native-${tag}`;
  const controllers = await readFile(join(root, 'cgroup.controllers'), 'utf8').catch(() => undefined);
  if (controllers !== undefined) {
    const have = controllers.split(/\s+/);
    const missing = ['cpu', 'memory', 'pids'].filter((c) => !have.includes(c));
    if (missing.length > 0) {
      throw new DriverError('BACKEND', `cgroup v2 at ${root} lacks the ${missing.join(', ')} controller(s) sandboxes are limited with`);
    }
    return new CgroupsV2(root, parent);
  }
  for (const c of V1_CONTROLLERS) {
    const isDir = await stat(join(root, c, 'cgroup.procs')).then(
      () => true,
      () => false,
    );
    if (!isDir) {
      throw new DriverError(
        'BACKEND',
        `no cgroup ${c} controller at ${join(root, c)} (neither cgroup v2 nor a v1 ${c} hierarchy is mounted)`,
      );
    }
  }
  return new CgroupsV1(root, parent, await pathExists(join(root, 'memory', 'memory.memsw.limit_in_bytes')));
}
