/** The qemu driver's prepared state: its config, programs, paths and per-instance helpers (prepare()). */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError, invalidConfig, type DriverContext } from '../../contract/index.js';
import { Semaphore } from '../../lib/locks.js';
import { ImageCache, type UrlPolicy } from '../shared/index.js';
import { DiskSpace } from '../shared/disk-space.js';
import { chooseAccel, type AccelChoice } from './accel.js';
import { parseConfig, type QemuConfig } from './config.js';
import { ReusePool, liveDiskFiles } from './disks.js';
import { run, which } from '../shared/exec.js';
import { NetNames, QEMU_NET_PREFIXES } from '../shared/host-net.js';
import { DriverPaths } from './paths.js';
import { StateStore } from './state.js';

export interface Programs {
  qemuSystem: string;
  qemuImg: string;
}

export interface Prepared {
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

/** Checks the config, the programs and root, creates the directories and picks the accelerator. */
export async function prepareQemu(configJson: string, ctx: DriverContext, urls: UrlPolicy): Promise<Prepared> {
  const config = parseConfig(configJson, ctx.dataDir);
  const qemuSystem = await which(config.qemuSystem);
  if (!qemuSystem) {
    throw new DriverError(
      'BACKEND',
      `qemu is not installed: ${config.qemuSystem} was not found (Debian: apt-get install qemu-system-x86 qemu-utils)`,
    );
  }
  const qemuImg = await which(config.qemuImg);
  if (!qemuImg)
    throw new DriverError('BACKEND', `qemu-img is not installed: ${config.qemuImg} was not found (Debian: apt-get install qemu-utils)`);
  // each VM gets its own network namespace, veth pair and iptables chains (host-net.ts)
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['iptables', 'iptables'],
    ['nsenter', 'util-linux'],
    ['sysctl', 'procps'],
  ] as const) {
    if (!(await which(tool)))
      throw new DriverError('BACKEND', `${tool} is not installed (Debian: apt-get install ${pkg}); VM networks need it`);
  }
  if (process.getuid?.() !== 0) {
    throw new DriverError(
      'BACKEND',
      'the qemu driver needs root: each VM runs in its own network namespace with firewall rules the driver owns',
    );
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
  ctx.log.info({ accel: accel.accel, reason: accel.reason, qemu: version }, 'qemu driver ready');
  return {
    config,
    programs: { qemuSystem, qemuImg },
    paths,
    netNames: new NetNames(paths.tag, QEMU_NET_PREFIXES),
    accel,
    version,
    states: new StateStore(paths.stateDir),
    images: new ImageCache({ dir: paths.imageDir, log: ctx.log, policy: urls }),
    reuse: new ReusePool(paths.reuseDir),
    space: new DiskSpace(config.diskLimits, () => liveDiskFiles(new StateStore(paths.stateDir))),
    boots: new Semaphore(config.maxConcurrentBoots),
  };
}
