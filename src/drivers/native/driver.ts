/**
 * The native driver: each environment is a sandbox of the host's own kernel — a fresh uid, a
 * cgroup with cpu/memory/pids limits, its own network namespace (veth to the node, only its Meta
 * API reachable unless nat), and bubblewrap's user, mount, pid, ipc, uts and cgroup namespaces
 * with a seccomp filter — started in milliseconds, without an image or a daemon. This file holds
 * the contract's methods; sandbox.ts builds and starts a sandbox, cgroups.ts, disks.ts, uids.ts
 * and ../shared/host-net.ts each own one kind of host object, and every one of them is named by
 * this instance's tag and the sandbox id, so a restarted node finds them (and removes orphans).
 */
import { open, readFile, readdir, realpath, rm, rmdir, mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  DriverError,
  invalidDefinition,
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
import { KeyedMutex } from '../../lib/locks.js';
import { cancelledError, reuseScope } from '../shared/index.js';
import { run, which } from '../shared/exec.js';
import { listVmNets, NATIVE_NET_PREFIXES, NetNames } from '../shared/host-net.js';
import { applySandboxRules, createSandboxNet, removeSandboxNet, removeSandboxRules } from './sandbox-net.js';
import { isMac, macFromHex, macHex, randomMac } from '../shared/mac.js';
import { MetaChannel } from '../shared/meta-channel.js';
import { openCgroups, type Cgroups } from './cgroups.js';
import { parseConfig, type NativeConfig } from './config.js';
import { checkMountAllowed, parseNativeDefinition, type NativeDefinition } from './definition.js';
import { NativeDisks } from './disks.js';
import { defaultSeccompFilter } from './seccomp.js';
import { SANDBOX_HOME, setprivArgs, startSandbox } from './sandbox.js';
import { StateStore, type SandboxState } from './state.js';
import { UidPool } from './uids.js';
import { mkdirWithMode } from './modes.js';

export const DRIVER_NAME = 'native';
const GB = 1024 ** 3;
const CONSOLE_TAIL_BYTES = 256 * 1024;
/** a console log larger than this is cut to its tail when read */
const CONSOLE_MAX_BYTES = 4 * 1024 * 1024;
const TOOLS: ReadonlyArray<readonly [string, string]> = [
  ['nsenter', 'util-linux'],
  ['setpriv', 'util-linux'],
  ['ip', 'iproute2'],
  ['iptables', 'iptables'],
  ['sysctl', 'procps'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['tar', 'tar'],
  ['zstd', 'zstd'],
];

interface Prepared {
  config: NativeConfig;
  bwrap: string;
  bwrapVersion: string;
  cgroups: Cgroups;
  states: StateStore;
  uids: UidPool;
  disks: NativeDisks;
  netNames: NetNames;
  seccompFile: string;
}

/** The start time of a process (field 22 of /proc/PID/stat), undefined when it does not exist. */
async function startTime(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); a zombie has ended
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
  return fields[19];
}

export class NativeDriver implements ResourceDriver {
  readonly #ctx: DriverContext;
  #prepared: Prepared | undefined;
  #prepareError: DriverError | undefined;
  readonly #channels = new Map<string, MetaChannel>();
  readonly #pending = new Set<string>();
  readonly #lock = new KeyedMutex();

  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
  }

  name(): string {
    return DRIVER_NAME;
  }

  async prepare(configJson: string): Promise<void> {
    try {
      this.#prepared = await this.#setUp(configJson);
      this.#prepareError = undefined;
    } catch (err) {
      if (err instanceof DriverError) this.#prepareError = err;
      throw err;
    }
    await this.#reconcile();
  }

  async #setUp(configJson: string): Promise<Prepared> {
    const config = parseConfig(configJson, this.#ctx.dataDir);
    const bwrap = await which(config.bwrap);
    if (!bwrap)
      throw new DriverError('BACKEND', `bubblewrap is not installed: ${config.bwrap} was not found (Debian: apt-get install bubblewrap)`);
    for (const [tool, pkg] of TOOLS) {
      if (!(await which(tool)))
        throw new DriverError('BACKEND', `${tool} is not installed (Debian: apt-get install ${pkg}); sandboxes need it`);
    }
    if (process.getuid?.() !== 0) {
      throw new DriverError(
        'BACKEND',
        'the native driver needs root: it creates cgroups, network namespaces and firewall rules, and switches uids',
      );
    }
    const filter = defaultSeccompFilter();
    if (!filter) throw new DriverError('BACKEND', `the native driver has no seccomp filter for ${process.arch} (x86-64 only)`);
    const cgroups = await openCgroups(config.cgroupRoot, config.tag);
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const seccompFile = join(config.dataDir, 'seccomp.bpf');
    await writeFile(seccompFile, filter, { mode: 0o600 });
    // the sandbox uids reach their bind sources (generated /etc files, disk mount points) here
    await mkdirWithMode(config.sandboxDir, 0o711);
    for (let d = dirname(config.sandboxDir); ; d = dirname(d)) {
      if (((await stat(d)).mode & 0o001) === 0) {
        throw new DriverError(
          'BACKEND',
          `sandbox_dir ${config.sandboxDir}: its parent ${d} is not searchable by other users (chmod o+x), so sandbox uids cannot reach their files`,
        );
      }
      if (d === '/') break;
    }
    const version = (await run(bwrap, ['--version'], { timeoutMs: 10_000 })).stdout.trim();
    await this.#probe(bwrap, config.uidFirst);
    const p: Prepared = {
      config,
      bwrap,
      bwrapVersion: version.replace(/^bubblewrap\s+/, ''),
      cgroups,
      states: new StateStore(join(config.dataDir, 'state')),
      uids: new UidPool(config.uidFirst, config.uidLast, config.tag),
      disks: new NativeDisks({ dataDir: config.dataDir, sandboxDir: config.sandboxDir }, config.diskLimits, this.#ctx.log),
      netNames: new NetNames(config.tag, NATIVE_NET_PREFIXES),
      seccompFile,
    };
    this.#ctx.log.info({ bwrap: p.bwrapVersion, cgroup: cgroups.version }, 'native driver ready');
    return p;
  }

  /** Whether the kernel lets an unprivileged uid make the sandbox's namespaces (it may forbid user namespaces). */
  async #probe(bwrap: string, uid: number): Promise<void> {
    const r = await run(
      'setpriv',
      [
        ...setprivArgs(uid),
        bwrap,
        '--unshare-user',
        '--unshare-pid',
        '--unshare-ipc',
        '--unshare-uts',
        '--unshare-net',
        '--ro-bind',
        '/',
        '/',
        '--',
        'true',
      ],
      { timeoutMs: 30_000, allowFailure: true },
    );
    if (r.code !== 0) {
      throw new DriverError(
        'BACKEND',
        `this kernel does not let bubblewrap make a sandbox as an unprivileged uid: ${r.stderr.trim().slice(0, 300) || `exit ${r.code}`}`,
      );
    }
  }

  #need(): Prepared {
    if (!this.#prepared)
      throw this.#prepareError ?? new DriverError('BACKEND', 'the native driver is not prepared (prepare() was not called or failed)');
    return this.#prepared;
  }

  /** Every sandbox id that has any host object of this instance. */
  async #allIds(p: Prepared): Promise<Set<string>> {
    const ids = new Set<string>();
    for (const h of await p.states.list()) ids.add(macHex(h));
    for (const id of await p.cgroups.list()) ids.add(id);
    for (const id of await listVmNets(p.netNames)) ids.add(id);
    for (const id of (await p.uids.claims()).values()) ids.add(id);
    for (const id of await readdir(p.config.sandboxDir).catch(() => [] as string[])) ids.add(id);
    for (const id of await readdir(join(p.config.dataDir, 'envs')).catch(() => [] as string[])) ids.add(id);
    return new Set([...ids].filter((id) => macFromHex(id) !== undefined));
  }

  /**
   * After a restart: sandboxes that run get their Meta API channel back; what a crash left of a
   * sandbox that never started (no state, or still "creating") is removed — found by its cgroup,
   * namespace, uid claim and folders.
   */
  async #reconcile(): Promise<void> {
    const p = this.#need();
    for (const id of await this.#allIds(p)) {
      const hwaddr = macFromHex(id)!;
      if (this.#pending.has(hwaddr) || this.#channels.has(hwaddr)) continue;
      const state = await p.states.read(hwaddr);
      if (!state || state.phase !== 'running') {
        await this.#teardown(p, hwaddr).catch((err: unknown) =>
          this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'cannot remove the leftovers of a sandbox that never started'),
        );
        this.#ctx.log.info({ hwaddr }, 'removed the leftovers of a sandbox that never started');
        continue;
      }
      if (!(await this.#alive(p, state)) || !state.net) continue;
      try {
        const channel = await MetaChannel.open(state.net.hostAddr, state.net.nsAddr, this.#ctx.meta.handlerFor(hwaddr), this.#ctx.log);
        this.#channels.set(hwaddr, channel);
        // the old rules point at the old listener's port
        await removeSandboxRules(p.netNames, hwaddr, state.net);
        await applySandboxRules(p.netNames, hwaddr, state.net, p.config.metaAddress, channel.port);
        this.#ctx.log.info({ hwaddr }, 're-attached sandbox');
      } catch (err) {
        this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'cannot re-open the Meta API channel of a sandbox');
      }
    }
  }

  /** The sandbox's command runs: its init pid lives (same start time) and is in the sandbox's cgroup. */
  async #alive(p: Prepared, state: SandboxState): Promise<boolean> {
    if (state.initPid === undefined) return false;
    const started = await startTime(state.initPid);
    if (started === undefined || started !== state.initStart) return false;
    return (await p.cgroups.pids(macHex(state.hwaddr))).includes(state.initPid);
  }

  async validateDefinition(definition: string): Promise<void> {
    const def = parseNativeDefinition(definition);
    const p = this.#prepared;
    if (!p) return;
    await this.#checkHostSide(p, def);
    await p.disks.space.checkDefinition(await p.disks.requests(def.disks, '', ''));
  }

  /** What only this node can tell: allowed mounts (symlinks resolved) and that the program exists. */
  async #checkHostSide(p: Prepared, def: NativeDefinition): Promise<void> {
    const allowed = await Promise.all(p.config.allowMounts.map((d) => realpath(d).catch(() => d)));
    for (const [i, m] of def.mounts.entries()) {
      const field = `options.mounts[${i}].source`;
      checkMountAllowed(m.source, p.config.allowMounts, field);
      const real = await realpath(m.source).catch(() => undefined);
      if (real === undefined) throw invalidDefinition(field, `"${m.source}" does not exist on this node`);
      checkMountAllowed(real, allowed, field);
    }
    const program = def.command[0]!;
    const own = def.disks.some((d) => program.startsWith(`/mnt/${d.label}/`)) || def.mounts.some((m) => program.startsWith(`${m.target}/`));
    if (!own) {
      const inSandbox = program.includes('/')
        ? [program]
        : ['/usr/local/bin', '/usr/bin', '/bin', '/usr/local/sbin', '/usr/sbin', '/sbin'].map((d) => join(d, program));
      let found = false;
      for (const c of inSandbox) if (/^\/(usr|bin|sbin|lib)/.test(c) && (await which(c))) found = true;
      if (!found) throw invalidDefinition('options.command[0]', `"${program}" is not a program of the sandbox (its /usr is the host's)`);
    }
  }

  async allocate(definition: string, _metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    const def = parseNativeDefinition(definition);
    const p = this.#need();
    await this.#checkHostSide(p, def);
    if (context?.signal?.aborted) throw cancelledError('allocation', context.signal);
    let hwaddr = randomMac();
    while (this.#pending.has(hwaddr) || (await p.states.read(hwaddr))) hwaddr = randomMac();
    this.#pending.add(hwaddr);
    try {
      return await this.#lock.run(hwaddr, () => this.#build(p, hwaddr, def, context));
    } finally {
      this.#pending.delete(hwaddr);
    }
  }

  async #build(p: Prepared, hwaddr: string, def: NativeDefinition, context?: AllocateContext): Promise<AllocateResult> {
    const id = macHex(hwaddr);
    const state: SandboxState = {
      hwaddr,
      phase: 'creating',
      created: new Date().toISOString(),
      application: context?.application ?? '',
      label: context?.label ?? '',
      uid: -1,
      disks: [],
    };
    const t0 = performance.now();
    const phases: Record<string, number> = {};
    const mark = (name: string): void => {
      phases[name] = Math.round(performance.now() - t0);
    };
    try {
      await p.states.write(state);
      state.uid = await p.uids.claim(id);
      mark('uid');
      await p.cgroups.create(id, { cpu: def.requirements.cpu, ramBytes: def.requirements.ram * GB, pids: p.config.pidsLimit });
      mark('cgroup');
      state.net = await createSandboxNet(p.netNames, hwaddr, p.config.sandboxNetwork, def.nat, p.config.metaAddress);
      mark('netns');
      await p.states.write(state);
      const channel = await MetaChannel.open(state.net.hostAddr, state.net.nsAddr, this.#ctx.meta.handlerFor(hwaddr), this.#ctx.log);
      this.#channels.set(hwaddr, channel);
      await applySandboxRules(p.netNames, hwaddr, state.net, p.config.metaAddress, channel.port);
      mark('rules');
      const dir = join(p.config.sandboxDir, id);
      await mkdirWithMode(dir, 0o711);
      await mkdir(p.disks.envDir(id), { recursive: true, mode: 0o700 });
      state.disks = await p.disks.attach(
        id,
        hwaddr,
        def.disks,
        { scope: reuseScope(context), label: context?.label ?? '', uid: state.uid },
        async (h) => (await p.states.read(h))?.phase === 'running',
        async (disks) => {
          state.disks = disks;
          await p.states.write(state);
        },
      );
      if (context?.signal?.aborted) throw cancelledError('allocation', context.signal);
      mark('disks');
      const started = await startSandbox({
        id,
        uid: state.uid,
        command: def.command,
        env: def.env,
        disks: state.disks,
        mounts: def.mounts,
        netnsPath: `/run/netns/${state.net.netns}`,
        cgroupProcs: p.cgroups.procsFiles(id),
        dir,
        consoleLog: this.#consoleLog(p, id),
        seccompFile: p.seccompFile,
        bwrap: p.bwrap,
        metaUrl: `http://${p.config.metaAddress}/meta/v1/data`,
        nat: def.nat,
      });
      state.monitorPid = started.monitorPid;
      state.initPid = started.initPid;
      state.initStart = await startTime(started.initPid);
      state.phase = 'running';
      await p.states.write(state);
      mark('started');
      this.#ctx.log.debug({ hwaddr, ms: phases }, 'sandbox allocation phases (ms since start)');
      this.#ctx.log.info({ hwaddr, uid: state.uid, pid: started.initPid, network: def.nat ? 'nat' : 'host-only' }, 'sandbox started');
      return { hwaddr, ipaddr: state.net.nsAddr };
    } catch (err) {
      await this.#teardown(p, hwaddr).catch((e: unknown) =>
        this.#ctx.log.error({ hwaddr, err: (e as Error).message }, 'cannot remove what a failed allocation made'),
      );
      throw err;
    }
  }

  #consoleLog(p: Prepared, id: string): string {
    return join(p.disks.envDir(id), 'console.log');
  }

  /** Remove everything of a sandbox: its processes (the whole cgroup), channel, network, disks, files, uid. Idempotent. */
  async #teardown(p: Prepared, hwaddr: string): Promise<void> {
    const id = macHex(hwaddr);
    const state = await p.states.read(hwaddr);
    await p.cgroups.remove(id);
    const channel = this.#channels.get(hwaddr);
    this.#channels.delete(hwaddr);
    await channel?.close();
    await removeSandboxNet(p.netNames, hwaddr, state?.net);
    await p.disks.cleanup(id, hwaddr);
    await rm(join(p.config.sandboxDir, id), { recursive: true, force: true });
    await p.uids.release(id, state && state.uid >= 0 ? state.uid : undefined);
    await p.uids.release(id);
    await p.states.remove(hwaddr);
  }

  async status(hwaddr: string): Promise<ResourceStatus> {
    const p = this.#need();
    if (!isMac(hwaddr)) return StatusNone;
    const state = await p.states.read(hwaddr);
    if (!state || state.phase !== 'running') return StatusNone;
    return (await this.#alive(p, state)) ? StatusAllocated : StatusNone;
  }

  async snapshot(hwaddr: string, full: boolean): Promise<string> {
    const p = this.#need();
    if (!isMac(hwaddr)) throw new DriverError('NOT_FOUND', `no native environment ${hwaddr}`);
    return this.#lock.run(hwaddr, async () => {
      const state = await p.states.read(hwaddr);
      if (!state || state.phase !== 'running') throw new DriverError('NOT_FOUND', `no native environment ${hwaddr}`);
      const id = `s-${macHex(hwaddr)}-${Date.now().toString(36)}`;
      const rec = await p.disks.snapshot(id, hwaddr, state.disks);
      this.#ctx.log.info({ hwaddr, snapshot: id, disks: state.disks.length }, 'sandbox snapshot taken');
      // a sandbox has no root file system of its own (its /usr is the host's): full = its disks
      return JSON.stringify({
        id,
        full,
        note: 'native snapshots hold the disks (tar, zstd); the sandbox has no root file system of its own',
        disks: rec.disks,
      });
    });
  }

  async deallocate(hwaddr: string): Promise<void> {
    const p = this.#need();
    if (!isMac(hwaddr)) return;
    await this.#lock.run(hwaddr, async () => {
      const known = (await p.states.read(hwaddr)) !== undefined || (await this.#allIds(p)).has(macHex(hwaddr));
      if (!known) return;
      await this.#teardown(p, hwaddr);
      this.#ctx.log.info({ hwaddr }, 'sandbox removed');
    });
  }

  async capacity(): Promise<DriverCapacity> {
    const cap = this.#need().config.capacity;
    return { cpu: cap.cpu, ram: cap.ram };
  }

  async listResources(): Promise<string[]> {
    const p = this.#need();
    return [...(await this.#allIds(p))]
      .map((id) => macFromHex(id)!)
      .filter((h) => !this.#pending.has(h))
      .sort();
  }

  async fingerprint(): Promise<Fingerprint> {
    if (!this.#prepared) {
      const err = this.#prepareError;
      const missing = err?.code === 'BACKEND' && /is not installed|needs root|does not let bubblewrap|no cgroup/.test(err.message);
      return { health: missing ? 'undetected' : 'unhealthy', description: err ? err.message : 'not prepared', attributes: {} };
    }
    const p = this.#prepared;
    let live = 0;
    for (const h of await p.states.list()) {
      const s = await p.states.read(h);
      if (s && (await this.#alive(p, s))) live++;
    }
    return {
      health: 'healthy',
      description: `bubblewrap ${p.bwrapVersion}, cgroup v${p.cgroups.version}`,
      attributes: {
        'native.bwrap': p.bwrapVersion,
        'native.cgroup': `v${p.cgroups.version}`,
        'native.swap_limited': String(p.cgroups.swapLimited),
        'native.uid_range': `${p.config.uidFirst}-${p.config.uidLast}`,
        'native.pids_limit': String(p.config.pidsLimit),
        'native.meta_url': `http://${p.config.metaAddress}/meta/v1/data`,
        'native.disk_types': 'dir,ext4',
        'native.sandboxes': String(live),
      },
    };
  }

  async console(hwaddr: string): Promise<string> {
    const p = this.#need();
    if (!isMac(hwaddr) || !(await p.states.read(hwaddr))) throw new DriverError('NOT_FOUND', `no native environment ${hwaddr}`);
    let fh;
    try {
      fh = await open(this.#consoleLog(p, macHex(hwaddr)), 'r+');
    } catch {
      return '';
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(0, size - CONSOLE_TAIL_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      // the sandbox appends (O_APPEND): keep only the tail once it grows large
      if (size > CONSOLE_MAX_BYTES) await fh.truncate(0);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    await Promise.all(channels.map((c) => c.close()));
    const p = this.#prepared;
    if (!p) return;
    p.disks.space.close();
    // an instance without sandboxes leaves no empty folder or cgroup parent behind
    await rmdir(p.config.sandboxDir).catch(() => undefined);
    await p.cgroups.removeParent();
  }

  /** For tests and tools: the state of a sandbox (undefined when none). */
  async stateOf(hwaddr: string): Promise<SandboxState | undefined> {
    return this.#need().states.read(hwaddr);
  }

  /** For tests and tools: this instance's cgroups, network names and uid claims. */
  internals(): { cgroups: Cgroups; netNames: NetNames; uids: UidPool; config: NativeConfig; home: string } {
    const p = this.#need();
    return { cgroups: p.cgroups, netNames: p.netNames, uids: p.uids, config: p.config, home: SANDBOX_HOME };
  }
}
