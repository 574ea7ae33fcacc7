/**
 * Per-VM state files (`<dataDir>/state/<mac id>.json`): everything a restarted node needs to find,
 * re-attach or remove a VM. Written before QEMU starts (phase "creating") so a crash mid-allocation
 * leaves a record, rewritten once the VM runs, removed last by deallocate. Versioned: a file with
 * an unknown version is reported, never guessed at.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmNet } from '../shared/host-net.js';
import { isMac, macFromHex, macHex } from '../shared/mac.js';

export const STATE_VERSION = 1;

export interface VmDisk {
  /** disk key in requirements.disks, or "root"/"imageN" for image overlays */
  name: string;
  /** what the guest sees as the disk's serial */
  serial: string;
  /** requested type (qcow2 | raw | ext4), or "image" for an image overlay */
  type: string;
  /** file format QEMU opens it with */
  format: 'qcow2' | 'raw';
  path: string;
  /** size in GB as requested (0 for image overlays) */
  size: number;
  /** kept after deallocate (reuse), else removed with the VM */
  keep: boolean;
}

export interface VmState {
  version: typeof STATE_VERSION;
  hwaddr: string;
  phase: 'creating' | 'running';
  createdAt: string;
  pid: number | undefined;
  /** the VM's own directory (overlays, disks, console, pid file) */
  dir: string;
  qmpSocket: string;
  /** the VM's network namespace, veth and addresses (undefined until made) */
  net: VmNet | undefined;
  consoleLog: string;
  pidFile: string;
  /** the definition JSON it was allocated with */
  definition: string;
  label: string;
  application: string;
  cpu: number;
  ram: number;
  disks: VmDisk[];
  /** the qemu-system command line (program first) */
  argv: string[];
}

export class StateStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  pathFor(hwaddr: string): string {
    return join(this.dir, `${macHex(hwaddr)}.json`);
  }

  async write(state: VmState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.pathFor(state.hwaddr);
    const tmp = `${target}.tmp-${process.pid}`;
    await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    await rename(tmp, target);
  }

  /** The state of one VM, undefined when there is none. Throws on an unreadable or foreign file. */
  async read(hwaddr: string): Promise<VmState | undefined> {
    let text: string;
    try {
      text = await readFile(this.pathFor(hwaddr), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const s = JSON.parse(text) as { version?: unknown };
    if (s.version !== STATE_VERSION)
      throw new Error(`state file ${this.pathFor(hwaddr)} has version ${String(s.version)}, this driver reads ${STATE_VERSION}`);
    return s as VmState;
  }

  /** hwaddrs that have a state file. */
  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => /^[0-9a-f]{12}\.json$/.test(n))
      .map((n) => macFromHex(n.slice(0, 12)))
      .filter((m): m is string => m !== undefined && isMac(m));
  }

  async remove(hwaddr: string): Promise<void> {
    await rm(this.pathFor(hwaddr), { force: true });
  }
}
