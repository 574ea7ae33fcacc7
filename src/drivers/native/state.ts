/** One JSON file per sandbox (`<data>/state/<mac id>.json`): what a restarted node needs to find, re-attach or remove it. */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmNet } from '../shared/host-net.js';
import { macFromHex, macHex } from '../shared/mac.js';
import type { AttachedDisk } from './disks.js';

export interface SandboxState {
  hwaddr: string;
  /** creating: not (yet) started — a crash leaves this; running: the command was started */
  phase: 'creating' | 'running';
  created: string;
  application: string;
  label: string;
  uid: number;
  net?: VmNet;
  disks: AttachedDisk[];
  monitorPid?: number;
  initPid?: number;
  /** the init's start time (/proc/PID/stat field 22): a reused pid is not mistaken for it */
  initStart?: string;
}

export class StateStore {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  #file(hwaddr: string): string {
    return join(this.dir, `${macHex(hwaddr)}.json`);
  }

  async write(s: SandboxState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.#file(s.hwaddr)}.tmp`;
    await writeFile(tmp, JSON.stringify(s, null, 2), { mode: 0o600 });
    await rename(tmp, this.#file(s.hwaddr));
  }

  async read(hwaddr: string): Promise<SandboxState | undefined> {
    try {
      return JSON.parse(await readFile(this.#file(hwaddr), 'utf8')) as SandboxState;
    } catch {
      return undefined;
    }
  }

  async remove(hwaddr: string): Promise<void> {
    await rm(this.#file(hwaddr), { force: true });
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    return names
      .filter((n) => n.endsWith('.json'))
      .map((n) => macFromHex(n.slice(0, -5)))
      .filter((m): m is string => m !== undefined);
  }
}
