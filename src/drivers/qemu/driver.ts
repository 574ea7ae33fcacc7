/**
 * The qemu driver: real QEMU virtual machines (KVM when it works, else TCG), controlled only
 * through QMP, each with its own overlay on read-only base images, its own Meta API channel and
 * its own state file so a restarted node finds, re-attaches or removes it. This file holds the
 * contract's methods and their wiring; prepared.ts checks the config and host, vm-builder.ts builds
 * and starts a VM (undoing a failed build), vm-teardown.ts stops and removes one.
 */
import { open } from 'node:fs/promises';
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
import { KeyedMutex } from '../../lib/locks.js';
import { cancelledError, UrlPolicy } from '../shared/index.js';
import { BUILTIN_FIRMWARE } from './config.js';
import { definitionUrls, parseQemuDefinition, type QemuDefinition } from './definition.js';
import { diskRequests } from './disks.js';
import { applyRules, listVmNets, removeVmNet, type NetNames } from '../shared/host-net.js';
import { isMac, macFromHex, randomMac } from '../shared/mac.js';
import { MetaChannel } from '../shared/meta-channel.js';
import type { DriverPaths } from './paths.js';
import { prepareQemu, type Prepared } from './prepared.js';
import { withQmp } from './qmp-client.js';
import { takeSnapshot } from './snapshot.js';
import type { VmState } from './state.js';
import { accessKeyPath, resolveInputs, VmBuilder } from './vm-builder.js';
import { GUEST_USER, readHostKeys, withCloudInit } from './cloud-init.js';
import type { HostKey } from './ssh-key.js';
import { findProcesses, isOurProcess } from './vm-process.js';
import { VmRuntime } from './vm-runtime.js';
import { VmTeardown } from './vm-teardown.js';
import { pathExists } from '../../lib/fs.js';

export const DRIVER_NAME = 'qemu';

/** What the driver can do, as data (Nomad-style capabilities). */
export const QEMU_CAPABILITIES = {
  diskTypes: ['qcow2', 'raw', 'ext4'],
  networks: ['', 'nat'],
  snapshot: { disks: true, full: true, memory: true },
  reattach: true,
} as const;

const CONSOLE_TAIL_BYTES = 256 * 1024;

/**
 * How the node reaches a guest's own sshd (for the access code; driver-internal, not in any API
 * answer). The guest's port 22 is forwarded by QEMU from `host:22`, the VM namespace's end of its
 * veth, which only the node host routes to.
 */
export interface GuestSshTarget {
  hwaddr: string;
  host: string;
  port: number;
  /** the account cloud-init made for the access key (`shoal`, sudo without password) */
  user: string;
  /** the per-application ed25519 private key (OpenSSH format, 0600, in the VM's directory); never log or send it */
  privateKeyPath: string;
  /**
   * the host keys the guest reported through cloud-init's phone_home at its first boot: pin these;
   * empty until the guest reported (connecting before that cannot be verified: refuse or wait)
   */
  hostKeys: HostKey[];
  /** when the guest reported them (ISO time), undefined while none */
  hostKeysReportedAt: string | undefined;
}

export class QemuDriver implements ResourceDriver {
  readonly #ctx: DriverContext;
  /** what image/kernel/initrd URLs may reach (the node's fetch config; the safe default without one) */
  readonly #urls: UrlPolicy;
  #prepared: Prepared | undefined;
  #prepareError: DriverError | undefined;
  /** channels, boot slots and pids of this instance's VMs (shared by the builder and the teardown) */
  readonly #runtime = new VmRuntime();
  readonly #teardown: VmTeardown;
  readonly #builder: VmBuilder;
  /** hwaddrs being allocated right now (not yet in a state file) */
  readonly #pending = new Set<string>();
  /** hwaddrs with a long QMP operation (snapshot) in progress: QMP is busy, the VM is there */
  readonly #busy = new Set<string>();
  readonly #vmLock = new KeyedMutex();

  constructor(ctx: DriverContext) {
    this.#ctx = ctx;
    this.#urls = new UrlPolicy(ctx.fetch);
    this.#teardown = new VmTeardown(ctx.log, this.#runtime);
    this.#builder = new VmBuilder({
      log: ctx.log,
      meta: ctx.meta,
      runtime: this.#runtime,
      teardown: this.#teardown,
      poolLock: new KeyedMutex(),
    });
  }

  name(): string {
    return DRIVER_NAME;
  }

  async prepare(configJson: string): Promise<void> {
    try {
      this.#prepared = await prepareQemu(configJson, this.#ctx, this.#urls);
      this.#prepareError = undefined;
    } catch (err) {
      if (err instanceof DriverError) this.#prepareError = err;
      throw err;
    }
    await this.#reattach();
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
      const hwaddr = macFromHex(id);
      if (hwaddr === undefined || known.has(hwaddr) || running.has(p.paths.marker(hwaddr))) continue;
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
      const pid = await this.#runtime.findPid(p, hwaddr, state);
      if (pid === undefined || this.#runtime.channels.has(hwaddr) || !state.net) continue;
      try {
        const handler = withCloudInit(state.dir, hwaddr, this.#ctx.meta.handlerFor(hwaddr), this.#ctx.log);
        const channel = await MetaChannel.open(state.net.hostAddr, state.net.nsAddr, handler, this.#ctx.log);
        this.#runtime.channels.set(hwaddr, channel);
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

  async allocate(definition: string, metadata: Record<string, unknown>, context?: AllocateContext): Promise<AllocateResult> {
    const def = this.#parse(definition);
    const p = this.#need();
    const inputs = await resolveInputs(p, def, metadata, context?.signal);
    if (context?.signal?.aborted) throw cancelledError('allocation', context.signal);
    const hwaddr = await this.#newMac(p);
    this.#pending.add(hwaddr);
    try {
      return await this.#vmLock.run(hwaddr, () => this.#builder.build(p, hwaddr, definition, def, inputs, context));
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

  async status(hwaddr: string): Promise<ResourceStatus> {
    const p = this.#need();
    if (!isMac(hwaddr)) return StatusNone;
    const state = await p.states.read(hwaddr);
    const pid = await this.#runtime.findPid(p, hwaddr, state);
    if (pid === undefined) return StatusNone;
    if (this.#busy.has(hwaddr)) return StatusAllocated; // our own snapshot holds its QMP socket
    const qmpSocket = state?.qmpSocket ?? p.paths.qmpSocket(hwaddr);
    try {
      const st = await withQmp(qmpSocket, (q) => q.execute<{ status: string }>('query-status'), {
        timeoutMs: p.config.qmpTimeoutSeconds * 1000,
      });
      return st.status === 'shutdown' ? StatusNone : StatusAllocated;
    } catch (err) {
      if (!(await isOurProcess(pid, p.paths.marker(hwaddr)))) return StatusNone;
      throw new DriverError(
        'BACKEND',
        `cannot tell the status of ${hwaddr}: qemu (pid ${pid}) runs but QMP does not answer: ${(err as Error).message}`,
        {
          cause: err,
        },
      );
    }
  }

  async snapshot(hwaddr: string, full: boolean): Promise<string> {
    const p = this.#need();
    if (!isMac(hwaddr)) throw new DriverError('NOT_FOUND', `no qemu VM ${hwaddr}`);
    return this.#vmLock.run(hwaddr, async () => {
      const state = await p.states.read(hwaddr);
      const pid = state && state.phase === 'running' ? await this.#runtime.findPid(p, hwaddr, state) : undefined;
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
    await this.#vmLock.run(hwaddr, () => this.#teardown.destroy(p, hwaddr, { graceful: true, alsoRemove: [] }));
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
    const healthy = await pathExists(p.programs.qemuSystem);
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
    this.#runtime.releaseAllBoots();
    const channels = [...this.#runtime.channels.values()];
    this.#runtime.channels.clear();
    await Promise.all(channels.map((c) => c.close()));
  }

  /**
   * How to reach the guest's sshd (see GuestSshTarget); undefined when there is no such VM or it
   * has no network namespace (half made).
   */
  async guestSsh(hwaddr: string): Promise<GuestSshTarget | undefined> {
    const p = this.#need();
    const state = isMac(hwaddr) ? await p.states.read(hwaddr) : undefined;
    if (!state?.net) return undefined;
    const reported = await readHostKeys(state.dir);
    return {
      hwaddr,
      host: state.net.nsAddr,
      port: 22,
      user: GUEST_USER,
      privateKeyPath: accessKeyPath(state.dir),
      hostKeys: reported?.keys ?? [],
      hostKeysReportedAt: reported?.reportedAt,
    };
  }

  /** For tests and tools: the state file of a VM (undefined when none). */
  async stateOf(hwaddr: string): Promise<VmState | undefined> {
    return this.#need().states.read(hwaddr);
  }

  /** For tests and tools: connections open right now on a VM's Meta API channel (undefined: no channel). */
  async metaConnections(hwaddr: string): Promise<number | undefined> {
    return this.#runtime.channels.get(hwaddr)?.connections();
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
