/**
 * Building a VM (allocate's steps, in order): fetch and check the images, resolve clones and
 * firmware; then the state file, a boot slot, overlays on the base images, disks (reused ones picked
 * under the pool lock, room reserved first), the network namespace, the Meta API channel, QEMU's
 * command line, and the start. A step that fails undoes everything before it (VmTeardown).
 */
import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DriverError,
  invalidDefinition,
  type AllocateContext,
  type AllocateResult,
  type DriverLogger,
  type MetaAccess,
} from '../../contract/index.js';
import type { KeyedMutex } from '../../lib/locks.js';
import { reuseScope } from '../shared/index.js';
import { isTarFile } from '../shared/tar-header.js';
import { guestHostname, seedArg, withCloudInit, writeSeed } from './cloud-init.js';
import { diskSerial, imageSerial, type QemuDefinition } from './definition.js';
import { GIB, cloneDisk, createBlank, createExt4, createOverlay, diskRequests, formatFor, imageInfo } from './disks.js';
import { run, which } from '../shared/exec.js';
import { applyRules, createVmNet, inNamespace } from '../shared/host-net.js';
import { MetaChannel } from '../shared/meta-channel.js';
import type { Prepared } from './prepared.js';
import { QmpError, withQmp } from './qmp-client.js';
import { resolveClone } from './snapshot.js';
import { generateSshKeyPair } from './ssh-key.js';
import { STATE_VERSION, type VmState } from './state.js';
import { buildArgs, isOurProcess, readPidFile, startQemu, type VmDiskArg } from './vm-process.js';
import type { VmRuntime } from './vm-runtime.js';
import type { VmTeardown } from './vm-teardown.js';
import { pathExists } from '../../lib/fs.js';

/** What allocate fetched and resolved before creating anything. */
export interface ResolvedInputs {
  kernel: string | undefined;
  initrd: string | undefined;
  bases: Array<{ path: string; format: 'qcow2' | 'raw' }>;
  clones: Map<string, string>;
  firmware: string;
  /** the metadata key `user_data` (cloud-init user-data), when set */
  userData: string | undefined;
}

/** The private key of the access key pair, in the VM's own directory. */
export function accessKeyPath(vmDir: string): string {
  return join(vmDir, 'ssh', 'id_ed25519');
}

/** Fetch images and resolve clones and firmware before anything is created. */
export async function resolveInputs(
  p: Prepared,
  def: QemuDefinition,
  metadata: Record<string, unknown>,
  signal: AbortSignal | undefined,
): Promise<ResolvedInputs> {
  const userData = metadata['user_data'];
  if (userData !== undefined && typeof userData !== 'string') {
    throw invalidDefinition('metadata.user_data', 'must be a string (a #cloud-config document or a script for cloud-init)');
  }
  const kernel = def.kernel ? await p.images.fetch(def.kernel, { field: 'options.kernel', signal }) : undefined;
  const initrd = def.initrd ? await p.images.fetch(def.initrd, { field: 'options.initrd', signal }) : undefined;
  const bases: Array<{ path: string; format: 'qcow2' | 'raw' }> = [];
  for (const [i, ref] of def.images.entries()) {
    const path = await p.images.fetch(ref, { decompress: true, field: `options.images[${i}]`, signal });
    if (await isTarFile(path)) {
      throw new DriverError(
        'IMAGE',
        `options.images[${i}]: is a tar archive; give the qcow2 or raw disk file itself (gzip/xz/zstd compression is fine)`,
        {
          field: `options.images[${i}]`,
        },
      );
    }
    const info = await imageInfo(p.programs.qemuImg, path);
    if (info.format !== 'qcow2' && info.format !== 'raw') {
      throw new DriverError('IMAGE', `options.images[${i}]: format "${info.format}" is not supported (qcow2 or raw)`, {
        field: `options.images[${i}]`,
      });
    }
    if (info.backing || info.dataFile) {
      // a backing or data file reference would let an image read any file on the host
      throw new DriverError(
        'IMAGE',
        `options.images[${i}]: the image refers to another file (${info.backing ? 'backing file' : 'data file'}); give a standalone image`,
        {
          field: `options.images[${i}]`,
        },
      );
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
  if (firmware !== '' && !(await pathExists(firmware))) {
    throw new DriverError('BACKEND', `firmware ${firmwareName} (${firmware}) is missing on this node`);
  }
  return { kernel, initrd, bases, clones, firmware, userData };
}

export class VmBuilder {
  readonly #log: DriverLogger;
  readonly #meta: MetaAccess;
  readonly #runtime: VmRuntime;
  readonly #teardown: VmTeardown;
  /** reused disks are picked under it, so two VMs never get the same one */
  readonly #poolLock: KeyedMutex;

  constructor(deps: { log: DriverLogger; meta: MetaAccess; runtime: VmRuntime; teardown: VmTeardown; poolLock: KeyedMutex }) {
    this.#log = deps.log;
    this.#meta = deps.meta;
    this.#runtime = deps.runtime;
    this.#teardown = deps.teardown;
    this.#poolLock = deps.poolLock;
  }

  /** Creates and starts the VM `hwaddr`; on any failure removes what was created and rejects. */
  async build(
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
      // the access key pair (the private key stays in the VM's directory) and the cloud-init seed
      const keys = generateSshKeyPair(`shoal-${context?.application || hwaddr}`);
      await mkdir(join(dir, 'ssh'), { mode: 0o700 });
      await writeFile(accessKeyPath(dir), keys.privateKey, { mode: 0o600 });
      await writeFile(`${accessKeyPath(dir)}.pub`, `${keys.publicKey}\n`, { mode: 0o600 });
      await writeSeed(dir, {
        hwaddr,
        instanceId: context?.application || hwaddr,
        hostname: guestHostname(context?.label ?? '', context?.application ?? '', hwaddr),
        metaAddress: p.config.metaAddress,
        userData: inputs.userData,
        publicKey: keys.publicKey,
      });
      [, releaseBoot] = await p.boots.acquire();
      this.#runtime.holdBoot(hwaddr, releaseBoot);

      for (const [i, base] of inputs.bases.entries()) {
        const overlay = join(dir, `image${i}.qcow2`);
        await createOverlay(p.programs.qemuImg, base.path, base.format, overlay);
        state.disks.push({
          name: imageSerial(i),
          serial: imageSerial(i),
          type: 'image',
          format: 'qcow2',
          path: overlay,
          size: 0,
          keep: false,
        });
      }
      await this.#createDisks(p, state, def, inputs, freshReused, reuseScope(context));

      const net = await createVmNet(p.netNames, hwaddr, p.config.vmNetwork, def.requirements.network === 'nat', p.config.metaAddress);
      state.net = net;
      await p.states.write(state);
      const handler = withCloudInit(dir, hwaddr, this.#meta.handlerFor(hwaddr), this.#log);
      const channel = await MetaChannel.open(net.hostAddr, net.nsAddr, handler, this.#log);
      this.#runtime.channels.set(hwaddr, channel);
      channel.onFirstRequest(() => this.#runtime.releaseBoot(hwaddr));
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
        cloudInitSeed: seedArg(p.config.metaAddress, hwaddr),
        sshForwardAddress: net.nsAddr,
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
      const status = await withQmp(state.qmpSocket, (q) => q.execute<{ status: string }>('query-status'), {
        timeoutMs: p.config.qmpTimeoutSeconds * 1000,
      });
      if (status.status !== 'running') throw new DriverError('BACKEND', `the VM is "${status.status}" right after start`);
      state.phase = 'running';
      await p.states.write(state);

      const hold = setTimeout(() => this.#runtime.releaseBoot(hwaddr), p.config.bootHoldSeconds * 1000);
      hold.unref();
      this.#log.info({ hwaddr, pid, cpu: state.cpu, ram: state.ram, accel: p.accel.accel, disks: state.disks.length }, 'VM allocated');
      return { hwaddr };
    } catch (err) {
      this.#log.warn({ hwaddr, err: (err as Error).message }, 'VM allocation failed: removing what was created');
      try {
        await this.#teardown.destroy(p, hwaddr, { graceful: false, alsoRemove: freshReused });
      } catch (cleanupErr) {
        this.#log.error({ hwaddr, err: (cleanupErr as Error).message }, 'clean-up after a failed allocation failed');
      }
      if (err instanceof DriverError) throw err;
      if (err instanceof QmpError) throw new DriverError('BACKEND', `qemu: ${err.message}`, { cause: err });
      throw new DriverError('BACKEND', `qemu allocate: ${(err as Error).message}`, { cause: err });
    }
  }

  async #createDisks(
    p: Prepared,
    state: VmState,
    def: QemuDefinition,
    inputs: ResolvedInputs,
    freshReused: string[],
    owner: string,
  ): Promise<void> {
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
          state.disks.push({
            name,
            serial: diskSerial(disk.label),
            type: disk.type,
            format: formatFor(disk.type),
            path: slot.path,
            size: disk.size,
            keep: true,
          });
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
      if (!mkfs)
        throw new DriverError('BACKEND', `${p.config.mkfsExt4} was not found (Debian: apt-get install e2fsprogs); ext4 disks need it`);
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
}
