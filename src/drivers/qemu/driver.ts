/**
 * The qemu driver: real QEMU virtual machines (KVM when it works, else TCG), controlled only
 * through QMP, each with its own overlay on read-only base images, its own Meta API channel and
 * its own state file so a restarted node finds, re-attaches or removes it.
 */
import { mkdir, open, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DriverError,
  StatusAllocated,
  StatusNone,
  invalidConfig,
  invalidDefinition,
  type AllocateContext,
  type AllocateResult,
  type DriverCapacity,
  type DriverContext,
  type Fingerprint,
  type ResourceDriver,
  type ResourceStatus,
} from '../../contract/index.js';
import { cancelledError, ImageCache, reuseScope, UrlPolicy } from '../shared/index.js';
import { chooseAccel, type AccelChoice } from './accel.js';
import { BUILTIN_FIRMWARE, parseConfig, type QemuConfig } from './config.js';
import { definitionUrls, diskSerial, imageSerial, parseQemuDefinition, type QemuDefinition } from './definition.js';
import { GIB, ReusePool, cloneDisk, createBlank, createExt4, createOverlay, diskRequests, exists, formatFor, imageInfo, liveDiskFiles } from './disks.js';
import { DiskSpace } from '../shared/disk-space.js';
import { run, which } from './exec.js';
import { NetNames, applyRules, createVmNet, inNamespace, listVmNets, removeVmNet } from './host-net.js';
import { KeyedMutex, Semaphore } from '../../lib/locks.js';
import { isMac, macFromId, randomMac } from './mac.js';
import { MetaChannel } from './meta-channel.js';
import { DriverPaths } from './paths.js';
import { QmpError, withQmp } from './qmp-client.js';
import { resolveClone, takeSnapshot } from './snapshot.js';
import { STATE_VERSION, StateStore, type VmState } from './state.js';
import { buildArgs, findProcesses, isOurProcess, killHard, readPidFile, startQemu, waitGone, type VmDiskArg } from './vm-process.js';

export const DRIVER_NAME = 'qemu';

/** What the driver can do, as data (Nomad-style capabilities). */
export const QEMU_CAPABILITIES = {
  diskTypes: ['qcow2', 'raw', 'ext4'],
  networks: ['', 'nat'],
  snapshot: { disks: true, full: true, memory: true },
  reattach: true,
} as const;

const QUIT_WAIT_MS = 5_000;
const POWERDOWN_REPEAT_MS = 3_000;
const CONSOLE_TAIL_BYTES = 256 * 1024;

interface Programs {
  qemuSystem: string;
  qemuImg: string;
}

interface Prepared {
  config: QemuConfig;
  programs: Programs;
  paths: DriverPaths;
  netNames: NetNames;
  accel: AccelChoice;
  version: string;
  states: StateStore;
  images: ImageCache;
  reuse: ReusePool;
  /** free-space checks of disk requests (config: disk_reserve, max_disk_size) */
  space: DiskSpace;
  boots: Semaphore;
}

export class QemuDriver implements ResourceDriver {
  readonly #ctx: DriverContext;
  /** what image/kernel/initrd URLs may reach (the node's fetch config; the safe default without one) */
  readonly #urls: UrlPolicy;
  #prepared: Prepared | undefined;
  #prepareError: DriverError | undefined;
  readonly #channels = new Map<string, MetaChannel>();
  readonly #bootReleases = new Map<string, () => void>();
  /** hwaddrs being allocated right now (not yet in a state file) */
  readonly #pending = new Set<string>();
  /** hwaddrs with a long QMP operation (snapshot) in progress: QMP is busy, the VM is there */
  readonly #busy = new Set<string>();
  readonly #vmLock = new KeyedMutex();
  readonly #poolLock = new KeyedMutex();

  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
    this.#urls = new UrlPolicy(ctx.fetch);
  }

  name(): string {
    return DRIVER_NAME;
  }

  async prepare(configJson: string): Promise<void> {
    try {
      this.#prepared = await this.#prepare(configJson);
      this.#prepareError = undefined;
    } catch (err) {
      if (err instanceof DriverError) this.#prepareError = err;
      throw err;
    }
    await this.#reattach();
  }

  async #prepare(configJson: string): Promise<Prepared> {
    const config = parseConfig(configJson, this.#ctx.dataDir);
    const qemuSystem = await which(config.qemuSystem);
    if (!qemuSystem) {
      throw new DriverError('BACKEND', `qemu is not installed: ${config.qemuSystem} was not found (Debian: apt-get install qemu-system-x86 qemu-utils)`);
    }
    const qemuImg = await which(config.qemuImg);
    if (!qemuImg) throw new DriverError('BACKEND', `qemu-img is not installed: ${config.qemuImg} was not found (Debian: apt-get install qemu-utils)`);
    // each VM gets its own network namespace, veth pair and iptables chains (host-net.ts)
    for (const [tool, pkg] of [['ip', 'iproute2'], ['iptables', 'iptables'], ['nsenter', 'util-linux'], ['sysctl', 'procps']] as const) {
      if (!(await which(tool))) throw new DriverError('BACKEND', `${tool} is not installed (Debian: apt-get install ${pkg}); VM networks need it`);
    }
    if (process.getuid?.() !== 0) {
      throw new DriverError('BACKEND', 'the qemu driver needs root: each VM runs in its own network namespace with firewall rules the driver owns');
    }
    let paths: DriverPaths;
    try {
      paths = new DriverPaths(config.dataDir, config.imageDir, config.socketDir);
    } catch (err) {
      throw invalidConfig('socket_dir', (err as Error).message);
    }
    for (const d of [paths.dataDir, paths.imageDir, paths.stateDir, paths.vmsDir, paths.reuseDir, paths.snapshotDir]) {
      await mkdir(d, { recursive: true });
    }
    await mkdir(paths.socketDir, { recursive: true, mode: 0o700 });
    const versionOut = await run(qemuSystem, ['--version'], { timeoutMs: 30_000 });
    const version = /version\s+([0-9][^\s]*)/.exec(versionOut.stdout)?.[1] ?? versionOut.stdout.split('\n')[0]!.trim();
    const accel = await chooseAccel(config.accel, qemuSystem, join(config.dataDir, 'probe'));
    if (config.accel === 'kvm' && accel.kvmReason.startsWith('no usable')) {
      throw new DriverError('BACKEND', `accel "kvm" was configured but ${accel.kvmReason}`);
    }
    this.#ctx.log.info({ accel: accel.accel, reason: accel.reason, qemu: version }, 'qemu driver ready');
    return {
      config,
      programs: { qemuSystem, qemuImg },
      paths,
      netNames: new NetNames(paths.tag),
      accel,
      version,
      states: new StateStore(paths.stateDir),
      images: new ImageCache({ dir: paths.imageDir, log: this.#ctx.log, policy: this.#urls }),
      reuse: new ReusePool(paths.reuseDir),
      space: new DiskSpace(config.diskLimits, () => liveDiskFiles(new StateStore(paths.stateDir))),
      boots: new Semaphore(config.maxConcurrentBoots),
    };
  }

  #need(): Prepared {
    if (!this.#prepared) {
      throw this.#prepareError ?? new DriverError('BACKEND', 'the qemu driver is not prepared (prepare() was not called or failed)');
    }
    return this.#prepared;
  }

  /**
   * Re-attach running VMs after a restart: serve their Meta API channels again (the namespace's
   * DNAT and the host rules are pointed at the new listener), and remove the network leftovers of
   * VMs that have neither a state file nor a process (a crash between the two).
   */
  async #reattach(): Promise<void> {
    const p = this.#need();
    const known = new Set(await p.states.list());
    const running = await findProcesses(p.paths.markerPrefix());
    for (const id of await listVmNets(p.netNames)) {
      const hwaddr = macFromId(id);
      if (known.has(hwaddr) || running.has(p.paths.marker(hwaddr))) continue;
      try {
        await removeVmNet(p.netNames, hwaddr);
        this.#ctx.log.info({ hwaddr }, 'removed the network leftovers of a VM that no longer exists');
      } catch (err) {
        this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'cannot remove the network leftovers of a VM');
      }
    }
    for (const hwaddr of known) {
      let state: VmState | undefined;
      try {
        state = await p.states.read(hwaddr);
      } catch (err) {
        this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'unreadable VM state file');
        continue;
      }
      if (!state) continue;
      const pid = await this.#findPid(hwaddr, state);
      if (pid === undefined || this.#channels.has(hwaddr) || !state.net) continue;
      try {
        const channel = await MetaChannel.open(state.net.hostAddr, state.net.nsAddr, this.#ctx.meta.handlerFor(hwaddr), this.#ctx.log);
        this.#channels.set(hwaddr, channel);
        await applyRules(p.netNames, hwaddr, state.net, p.config.metaAddress, channel.port);
        this.#ctx.log.info({ hwaddr, pid, phase: state.phase }, 're-attached VM');
      } catch (err) {
        this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'cannot re-open the Meta API channel of a VM');
      }
    }
  }

  async validateDefinition(definition: string): Promise<void> {
    const def = this.#parse(definition);
    for (const { field, url } of definitionUrls(def)) await this.#urls.checkForLabel(url, field);
    // disks that could never fit this node's file system (or max_disk_size) are refused now
    const p = this.#prepared;
    if (p) await p.space.checkDefinition(await diskRequests(def, p.paths.vmsDir, p.reuse.dir));
  }

  #parse(definition: string): QemuDefinition {
    return parseQemuDefinition(definition, this.#prepared?.config.firmware ?? BUILTIN_FIRMWARE);
  }

  async allocate(definition: string, _metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    const def = this.#parse(definition);
    const p = this.#need();
    const inputs = await this.#resolveInputs(p, def, context?.signal);
    if (context?.signal?.aborted) throw cancelledError('allocation', context.signal);
    const hwaddr = await this.#newMac(p);
    this.#pending.add(hwaddr);
    try {
      return await this.#vmLock.run(hwaddr, () => this.#create(p, hwaddr, definition, def, inputs, context));
    } finally {
      this.#pending.delete(hwaddr);
    }
  }

  async #newMac(p: Prepared): Promise<string> {
    const taken = new Set([...(await p.states.list()), ...this.#pending]);
    for (;;) {
      const mac = randomMac();
      if (!taken.has(mac)) return mac;
    }
  }

  /** Fetch images and resolve clones and firmware before anything is created. */
  async #resolveInputs(p: Prepared, def: QemuDefinition, signal: AbortSignal | undefined): Promise<ResolvedInputs> {
    const kernel = def.kernel ? await p.images.fetch(def.kernel, { field: 'options.kernel', signal }) : undefined;
    const initrd = def.initrd ? await p.images.fetch(def.initrd, { field: 'options.initrd', signal }) : undefined;
    const bases: Array<{ path: string; format: 'qcow2' | 'raw' }> = [];
    for (const [i, ref] of def.images.entries()) {
      const path = await p.images.fetch(ref, { decompress: true, field: `options.images[${i}]`, signal });
      if (await isTar(path)) {
        throw new DriverError('IMAGE', `options.images[${i}]: is a tar archive; give the qcow2 or raw disk file itself (gzip/xz/zstd compression is fine)`, {
          field: `options.images[${i}]`,
        });
      }
      const info = await imageInfo(p.programs.qemuImg, path);
      if (info.format !== 'qcow2' && info.format !== 'raw') {
        throw new DriverError('IMAGE', `options.images[${i}]: format "${info.format}" is not supported (qcow2 or raw)`, { field: `options.images[${i}]` });
      }
      if (info.backing || info.dataFile) {
        // a backing or data file reference would let an image read any file on the host
        throw new DriverError('IMAGE', `options.images[${i}]: the image refers to another file (${info.backing ? 'backing file' : 'data file'}); give a standalone image`, {
          field: `options.images[${i}]`,
        });
      }
      bases.push({ path, format: info.format });
    }
    const clones = new Map<string, string>();
    for (const [name, disk] of Object.entries(def.requirements.disks)) {
      if (disk.clone === '') continue;
      const source = await resolveClone(p.paths.snapshotDir, disk.clone);
      if (!source) {
        throw invalidDefinition(`requirements.disks.${name}.clone`, `no qemu snapshot disk "${disk.clone}" on this node`);
      }
      clones.set(name, source);
    }
    const firmwareName = def.firmware || (def.kernel ? 'qboot' : 'seabios');
    const firmware = p.config.firmware[firmwareName] ?? '';
    if (firmware !== '' && !(await exists(firmware))) {
      throw new DriverError('BACKEND', `firmware ${firmwareName} (${firmware}) is missing on this node`);
    }
    return { kernel, initrd, bases, clones, firmware };
  }

  async #create(
    p: Prepared,
    hwaddr: string,
    definition: string,
    def: QemuDefinition,
    inputs: ResolvedInputs,
    context: AllocateContext | undefined,
  ): Promise<AllocateResult> {
    const dir = p.paths.vmDir(hwaddr);
    const state: VmState = {
      version: STATE_VERSION,
      hwaddr,
      phase: 'creating',
      createdAt: new Date().toISOString(),
      pid: undefined,
      dir,
      qmpSocket: p.paths.qmpSocket(hwaddr),
      net: undefined,
      consoleLog: join(dir, 'console.log'),
      pidFile: join(dir, 'qemu.pid'),
      definition,
      label: context?.label ?? '',
      application: context?.application ?? '',
      cpu: def.requirements.cpu,
      ram: def.requirements.ram,
      disks: [],
      argv: [],
    };
    const freshReused: string[] = [];
    let releaseBoot: (() => void) | undefined;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await p.states.write(state);
      [, releaseBoot] = await p.boots.acquire();
      this.#bootReleases.set(hwaddr, releaseBoot);

      for (const [i, base] of inputs.bases.entries()) {
        const overlay = join(dir, `image${i}.qcow2`);
        await createOverlay(p.programs.qemuImg, base.path, base.format, overlay);
        state.disks.push({ name: imageSerial(i), serial: imageSerial(i), type: 'image', format: 'qcow2', path: overlay, size: 0, keep: false });
      }
      await this.#createDisks(p, state, def, inputs, freshReused, reuseScope(context));

      const net = await createVmNet(p.netNames, hwaddr, p.config.vmNetwork, def.requirements.network === 'nat', p.config.metaAddress);
      state.net = net;
      await p.states.write(state);
      const channel = await MetaChannel.open(net.hostAddr, net.nsAddr, this.#ctx.meta.handlerFor(hwaddr), this.#ctx.log);
      this.#channels.set(hwaddr, channel);
      channel.onFirstRequest(() => this.#releaseBoot(hwaddr));
      await applyRules(p.netNames, hwaddr, net, p.config.metaAddress, channel.port);

      const diskArgs: VmDiskArg[] = state.disks.map((d, i) => ({
        nodeName: `disk${i}`,
        serial: d.serial,
        format: d.format,
        path: d.path,
        bootIndex: d.name === 'root' ? 0 : undefined,
      }));
      const args = buildArgs({
        marker: p.paths.marker(hwaddr),
        accel: p.accel.accel,
        machine: p.config.machine,
        cpu: def.requirements.cpu,
        ramGb: def.requirements.ram,
        mac: hwaddr,
        firmware: inputs.firmware,
        kernel: inputs.kernel,
        initrd: inputs.initrd,
        append: def.append,
        disks: diskArgs,
        qmpSocket: state.qmpSocket,
        consoleLog: state.consoleLog,
        pidFile: state.pidFile,
      });
      state.argv = [p.programs.qemuSystem, ...args];
      await p.states.write(state);

      const start = inNamespace(net.netns, p.programs.qemuSystem, args);
      await startQemu(start.program, start.args);
      const pid = await readPidFile(state.pidFile);
      if (pid === undefined || !(await isOurProcess(pid, p.paths.marker(hwaddr)))) {
        throw new DriverError('BACKEND', 'qemu started but is not running (see the console log)');
      }
      state.pid = pid;
      const status = await withQmp(state.qmpSocket, (q) => q.execute<{ status: string }>('query-status'), { timeoutMs: p.config.qmpTimeoutSeconds * 1000 });
      if (status.status !== 'running') throw new DriverError('BACKEND', `the VM is "${status.status}" right after start`);
      state.phase = 'running';
      await p.states.write(state);

      const hold = setTimeout(() => this.#releaseBoot(hwaddr), p.config.bootHoldSeconds * 1000);
      hold.unref();
      this.#ctx.log.info({ hwaddr, pid, cpu: state.cpu, ram: state.ram, accel: p.accel.accel, disks: state.disks.length }, 'VM allocated');
      return { hwaddr };
    } catch (err) {
      this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'VM allocation failed: removing what was created');
      try {
        await this.#destroy(p, hwaddr, { graceful: false, alsoRemove: freshReused });
      } catch (cleanupErr) {
        this.#ctx.log.error({ hwaddr, err: (cleanupErr as Error).message }, 'clean-up after a failed allocation failed');
      }
      if (err instanceof DriverError) throw err;
      if (err instanceof QmpError) throw new DriverError('BACKEND', `qemu: ${err.message}`, { cause: err });
      throw new DriverError('BACKEND', `qemu allocate: ${(err as Error).message}`, { cause: err });
    }
  }

  async #createDisks(p: Prepared, state: VmState, def: QemuDefinition, inputs: ResolvedInputs, freshReused: string[], owner: string): Promise<void> {
    const entries = Object.entries(def.requirements.disks);
    // pick reused disks under the pool lock, and record them before releasing it
    const reused = new Map<string, { path: string; fresh: boolean }>();
    if (entries.some(([, d]) => d.reuse)) {
      await this.#poolLock.run('pool', async () => {
        const inUse = await this.#reusedInUse(p);
        for (const [name, disk] of entries) {
          if (!disk.reuse) continue;
          const slot = await p.reuse.pick({ owner, label: state.label || '_' }, name, disk.type, inUse);
          inUse.add(slot.path);
          reused.set(name, slot);
          state.disks.push({ name, serial: diskSerial(disk.label), type: disk.type, format: formatFor(disk.type), path: slot.path, size: disk.size, keep: true });
        }
        await p.states.write(state);
      });
    }
    // room on the file system first (NO_CAPACITY naming the disk, before any disk file exists)
    const release = await p.space.reserve(await diskRequests(def, state.dir, p.reuse.dir, reused, p.programs.qemuImg));
    try {
      for (const [name, disk] of entries) {
        const format = formatFor(disk.type);
        const slot = reused.get(name);
        if (slot) {
          if (slot.fresh) {
            freshReused.push(slot.path);
            await this.#makeDisk(p, slot.path, disk.type, disk.size, disk.label);
          } else {
            await this.#growIfSmaller(p, slot.path, format, disk.size);
          }
          continue;
        }
        const path = join(state.dir, `disk-${name}.${format}`);
        const source = inputs.clones.get(name);
        if (source) await cloneDisk(p.programs.qemuImg, source, path, format, disk.size);
        else await this.#makeDisk(p, path, disk.type, disk.size, disk.label);
        state.disks.push({ name, serial: diskSerial(disk.label), type: disk.type, format, path, size: disk.size, keep: false });
      }
      // the state names every disk now: they count as promised from here on
      await p.states.write(state);
    } finally {
      release();
    }
  }

  async #makeDisk(p: Prepared, path: string, type: string, sizeGb: number, label: string): Promise<void> {
    if (type === 'ext4') {
      const mkfs = await which(p.config.mkfsExt4);
      if (!mkfs) throw new DriverError('BACKEND', `${p.config.mkfsExt4} was not found (Debian: apt-get install e2fsprogs); ext4 disks need it`);
      await createExt4(mkfs, path, sizeGb, label);
    } else {
      await createBlank(p.programs.qemuImg, path, formatFor(type), sizeGb);
    }
  }

  async #growIfSmaller(p: Prepared, path: string, format: 'qcow2' | 'raw', sizeGb: number): Promise<void> {
    if (format === 'raw') {
      if ((await stat(path)).size < sizeGb * GIB) await truncate(path, sizeGb * GIB);
      return;
    }
    const info = await imageInfo(p.programs.qemuImg, path, 'qcow2');
    if (info.virtualSize < sizeGb * GIB) await run(p.programs.qemuImg, ['resize', '-q', '-f', 'qcow2', path, String(sizeGb * GIB)]);
  }

  /** Paths of reused disks named by any VM state (live or being created). */
  async #reusedInUse(p: Prepared): Promise<Set<string>> {
    const inUse = new Set<string>();
    for (const hwaddr of await p.states.list()) {
      const s = await p.states.read(hwaddr).catch(() => undefined);
      for (const d of s?.disks ?? []) if (d.keep) inUse.add(d.path);
    }
    return inUse;
  }

  #releaseBoot(hwaddr: string): void {
    const release = this.#bootReleases.get(hwaddr);
    if (!release) return;
    this.#bootReleases.delete(hwaddr);
    release();
  }

  /** The live QEMU pid of a VM: from its state, its pid file, or a /proc scan for its marker. */
  async #findPid(hwaddr: string, state: VmState | undefined): Promise<number | undefined> {
    const p = this.#need();
    const marker = p.paths.marker(hwaddr);
    if (state?.pid !== undefined && (await isOurProcess(state.pid, marker))) return state.pid;
    const fromFile = await readPidFile(state?.pidFile ?? join(p.paths.vmDir(hwaddr), 'qemu.pid'));
    if (fromFile !== undefined && (await isOurProcess(fromFile, marker))) return fromFile;
    return (await findProcesses(marker)).get(marker);
  }

  async status(hwaddr: string): Promise<ResourceStatus> {
    const p = this.#need();
    if (!isMac(hwaddr)) return StatusNone;
    const state = await p.states.read(hwaddr);
    const pid = await this.#findPid(hwaddr, state);
    if (pid === undefined) return StatusNone;
    if (this.#busy.has(hwaddr)) return StatusAllocated; // our own snapshot holds its QMP socket
    const qmpSocket = state?.qmpSocket ?? p.paths.qmpSocket(hwaddr);
    try {
      const st = await withQmp(qmpSocket, (q) => q.execute<{ status: string }>('query-status'), { timeoutMs: p.config.qmpTimeoutSeconds * 1000 });
      return st.status === 'shutdown' ? StatusNone : StatusAllocated;
    } catch (err) {
      if (!(await isOurProcess(pid, p.paths.marker(hwaddr)))) return StatusNone;
      throw new DriverError('BACKEND', `cannot tell the status of ${hwaddr}: qemu (pid ${pid}) runs but QMP does not answer: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  async snapshot(hwaddr: string, full: boolean): Promise<string> {
    const p = this.#need();
    if (!isMac(hwaddr)) throw new DriverError('NOT_FOUND', `no qemu VM ${hwaddr}`);
    return this.#vmLock.run(hwaddr, async () => {
      const state = await p.states.read(hwaddr);
      const pid = state && state.phase === 'running' ? await this.#findPid(hwaddr, state) : undefined;
      if (!state || pid === undefined) throw new DriverError('NOT_FOUND', `no running qemu VM ${hwaddr}`);
      this.#busy.add(hwaddr);
      let info;
      try {
        info = await withQmp(
          state.qmpSocket,
          (qmp) => takeSnapshot({ qmp, qemuImg: p.programs.qemuImg, state, snapshotDir: p.paths.snapshotDir, full }),
          { timeoutMs: p.config.qmpTimeoutSeconds * 1000 },
        );
      } finally {
        this.#busy.delete(hwaddr);
      }
      this.#ctx.log.info({ hwaddr, snapshot: info.id, full, disks: Object.keys(info.disks).length }, 'VM snapshot taken');
      return JSON.stringify(info);
    });
  }

  async deallocate(hwaddr: string): Promise<void> {
    const p = this.#need();
    if (!isMac(hwaddr)) return;
    await this.#vmLock.run(hwaddr, () => this.#destroy(p, hwaddr, { graceful: true, alsoRemove: [] }));
  }

  /**
   * Stop the VM (ACPI power button with a deadline, then QMP quit, then SIGKILL) and remove its
   * sockets, overlays, non-reused disks, directory and state file (last). Idempotent.
   */
  async #destroy(p: Prepared, hwaddr: string, opts: { graceful: boolean; alsoRemove: string[] }): Promise<void> {
    let state: VmState | undefined;
    try {
      state = await p.states.read(hwaddr);
    } catch (err) {
      this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'unreadable VM state file: removing by convention');
    }
    const marker = p.paths.marker(hwaddr);
    const qmpSocket = state?.qmpSocket ?? p.paths.qmpSocket(hwaddr);
    const pid = await this.#findPid(hwaddr, state);
    // a VM whose allocation never finished (crashed node) was never handed out: no need to be gentle
    const graceful = opts.graceful && state?.phase === 'running';
    if (pid !== undefined) await this.#stopProcess(p, hwaddr, pid, marker, qmpSocket, graceful);
    // a QEMU started by a crashed allocation may not have written its pid file: scan once more
    const stray = (await findProcesses(marker)).get(marker);
    if (stray !== undefined) await killHard(stray, marker);

    this.#releaseBoot(hwaddr);
    const channel = this.#channels.get(hwaddr);
    this.#channels.delete(hwaddr);
    if (channel) await channel.close();
    await removeVmNet(p.netNames, hwaddr);
    await rm(qmpSocket, { force: true });
    for (const d of state?.disks ?? []) if (!d.keep) await rm(d.path, { force: true });
    for (const path of opts.alsoRemove) await rm(path, { force: true });
    await rm(state?.dir ?? p.paths.vmDir(hwaddr), { recursive: true, force: true });
    await p.states.remove(hwaddr);
    if (state || pid !== undefined) this.#ctx.log.info({ hwaddr }, 'VM deallocated');
  }

  async #stopProcess(p: Prepared, hwaddr: string, pid: number, marker: string, qmpSocket: string, graceful: boolean): Promise<void> {
    if (graceful && p.config.shutdownTimeoutSeconds > 0) {
      // the power button is pressed again every few seconds: a guest still booting misses a press
      const deadline = Date.now() + p.config.shutdownTimeoutSeconds * 1000;
      try {
        while (Date.now() < deadline) {
          await withQmp(qmpSocket, (q) => q.execute('system_powerdown'), { timeoutMs: 5_000 });
          if (await waitGone(pid, marker, Math.min(POWERDOWN_REPEAT_MS, deadline - Date.now()))) return;
        }
        this.#ctx.log.warn({ hwaddr }, 'guest did not power off in time: quitting qemu');
      } catch (err) {
        if (await waitGone(pid, marker, 200)) return;
        this.#ctx.log.warn({ hwaddr, err: (err as Error).message }, 'ACPI power-down failed: quitting qemu');
      }
    }
    try {
      await withQmp(qmpSocket, (q) => q.execute('quit'), { timeoutMs: 5_000 });
      if (await waitGone(pid, marker, QUIT_WAIT_MS)) return;
    } catch {
      // QMP unreachable or closed while quitting: check below
    }
    if (await waitGone(pid, marker, 200)) return;
    await killHard(pid, marker);
  }

  async capacity(): Promise<DriverCapacity> {
    const cap = this.#need().config.capacity;
    return { cpu: cap.cpu, ram: cap.ram };
  }

  async listResources(): Promise<string[]> {
    const p = this.#need();
    const found = new Set(await p.states.list());
    for (const marker of (await findProcesses(p.paths.markerPrefix())).keys()) {
      const id = marker.slice(p.paths.markerPrefix().length);
      if (/^[0-9a-f]{12}$/.test(id)) found.add(id.match(/../g)!.join(':'));
    }
    return [...found].sort();
  }

  async fingerprint(): Promise<Fingerprint> {
    if (!this.#prepared) {
      const err = this.#prepareError;
      const missing = err?.code === 'BACKEND' && /not installed/.test(err.message) && /^qemu is/.test(err.message);
      return {
        health: missing ? 'undetected' : 'unhealthy',
        description: err ? err.message : 'not prepared',
        attributes: {},
      };
    }
    const p = this.#prepared;
    let live = 0;
    for (const hwaddr of await p.states.list()) {
      const s = await p.states.read(hwaddr).catch(() => undefined);
      if (s && (await isOurProcess(s.pid, p.paths.marker(hwaddr)))) live++;
    }
    const healthy = await exists(p.programs.qemuSystem);
    return {
      health: healthy ? 'healthy' : 'unhealthy',
      description: healthy ? `qemu ${p.version} (${p.accel.accel}: ${p.accel.reason})` : `${p.programs.qemuSystem} disappeared`,
      attributes: {
        'qemu.version': p.version,
        'qemu.accel': p.accel.accel,
        'qemu.accel.reason': p.accel.reason,
        'qemu.machine': p.config.machine,
        'qemu.network': p.config.network,
        'qemu.meta_url': `http://${p.config.metaAddress}/meta/v1/data`,
        'qemu.disk_types': QEMU_CAPABILITIES.diskTypes.join(','),
        'qemu.vms': String(live),
      },
    };
  }

  async console(hwaddr: string): Promise<string> {
    const p = this.#need();
    const state = isMac(hwaddr) ? await p.states.read(hwaddr) : undefined;
    if (!state) throw new DriverError('NOT_FOUND', `no qemu VM ${hwaddr}`);
    let fh;
    try {
      fh = await open(state.consoleLog, 'r');
    } catch {
      return '';
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(0, size - CONSOLE_TAIL_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {
    for (const hwaddr of [...this.#bootReleases.keys()]) this.#releaseBoot(hwaddr);
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    await Promise.all(channels.map((c) => c.close()));
  }

  /** For tests and tools: the state file of a VM (undefined when none). */
  async stateOf(hwaddr: string): Promise<VmState | undefined> {
    return this.#need().states.read(hwaddr);
  }

  /** For tests and tools: connections open right now on a VM's Meta API channel (undefined: no channel). */
  async metaConnections(hwaddr: string): Promise<number | undefined> {
    return this.#channels.get(hwaddr)?.connections();
  }

  /** For tests and tools: the names of this instance's VM network objects. */
  netNames(): NetNames {
    return this.#need().netNames;
  }

  /** For tests and tools: where this instance keeps things. */
  paths(): DriverPaths {
    return this.#need().paths;
  }
}

/** A POSIX tar archive ("ustar" at offset 257). */
async function isTar(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(5);
    const { bytesRead } = await fh.read(buf, 0, 5, 257);
    return bytesRead === 5 && buf.toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

interface ResolvedInputs {
  kernel: string | undefined;
  initrd: string | undefined;
  bases: Array<{ path: string; format: 'qcow2' | 'raw' }>;
  clones: Map<string, string>;
  firmware: string;
}
