import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AllocateContext, Disk } from '../../contract/index.js';
import type { InjectionKey } from './config.js';
import { isMac } from '../shared/mac.js';

/** Bumped when the resource file's shape changes; older versions are read as they were. */
export const RESOURCE_FILE_VERSION = 1;

/** What the test driver records for one resource: `DATA_DIR/resources/<hwaddr>.json`. */
export interface ResourceRecord {
  version: number;
  hwaddr: string;
  ipaddr: string;
  created_at: string;
  cpu: number;
  ram: number;
  disks: Record<string, Disk>;
  network: string;
  /** the label's injection overrides, used by deallocate/status/snapshot of this resource */
  options: Partial<Record<InjectionKey, number>>;
  /** metadata key names only: values may be secrets and are never written */
  metadata_keys: string[];
  context?: AllocateContext;
}

/** What snapshot() writes: `DATA_DIR/snapshots/<hwaddr>-<time>-<rand>.json`. */
export interface SnapshotRecord {
  version: number;
  hwaddr: string;
  full: boolean;
  created_at: string;
  disks: Record<string, Disk>;
  network: string;
  cpu: number;
  ram: number;
}

const TMP_PREFIX = '.tmp-';

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

function fileName(hwaddr: string): string {
  return `${hwaddr.replaceAll(':', '-')}.json`;
}

function hwaddrOf(name: string): string | undefined {
  if (!name.endsWith('.json')) return undefined;
  const hwaddr = name.slice(0, -'.json'.length).replaceAll('-', ':');
  return isMac(hwaddr) ? hwaddr : undefined;
}

/** The resource and snapshot files of one driver instance; every write is temp file + rename. */
export class ResourceFiles {
  readonly resourcesDir: string;
  readonly snapshotsDir: string;

  constructor(dataDir: string) {
    this.resourcesDir = join(dataDir, 'resources');
    this.snapshotsDir = join(dataDir, 'snapshots');
  }

  /** Path of the resource file for a well-formed hwaddr. */
  pathOf(hwaddr: string): string {
    return join(this.resourcesDir, fileName(hwaddr));
  }

  /**
   * Creates the folders, removes temp files a crash left behind, and reads every resource file.
   * A file that can't be read as a record is still reported (as `damaged`) so it can be deallocated.
   */
  async load(): Promise<{ records: ResourceRecord[]; damaged: string[]; removedTemp: number }> {
    await mkdir(this.resourcesDir, { recursive: true });
    await mkdir(this.snapshotsDir, { recursive: true });
    let removedTemp = 0;
    for (const dir of [this.resourcesDir, this.snapshotsDir]) {
      for (const name of await readdir(dir)) {
        if (!name.startsWith(TMP_PREFIX)) continue;
        await unlink(join(dir, name)).catch((err: unknown) => {
          if (!isMissing(err)) throw err;
        });
        removedTemp++;
      }
    }
    const records: ResourceRecord[] = [];
    const damaged: string[] = [];
    for (const name of await readdir(this.resourcesDir)) {
      const hwaddr = hwaddrOf(name);
      if (!hwaddr) continue;
      try {
        const rec = JSON.parse(await readFile(join(this.resourcesDir, name), 'utf8')) as ResourceRecord;
        if (rec.hwaddr !== hwaddr || typeof rec.ipaddr !== 'string') throw new Error('not a resource record');
        records.push(rec);
      } catch {
        damaged.push(hwaddr);
      }
    }
    return { records, damaged, removedTemp };
  }

  async #writeAtomic(dir: string, name: string, doc: unknown): Promise<string> {
    const final = join(dir, name);
    const tmp = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}-${name}`);
    try {
      await writeFile(tmp, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, final);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return final;
  }

  /** Writes the resource file atomically (it appears whole or not at all). */
  async write(rec: ResourceRecord): Promise<string> {
    return this.#writeAtomic(this.resourcesDir, fileName(rec.hwaddr), rec);
  }

  /** Reads one resource file; undefined when there is none. */
  async read(hwaddr: string): Promise<ResourceRecord | undefined> {
    try {
      return JSON.parse(await readFile(this.pathOf(hwaddr), 'utf8')) as ResourceRecord;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  /** Removes the resource file; true if it was there. */
  async remove(hwaddr: string): Promise<boolean> {
    try {
      await unlink(this.pathOf(hwaddr));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async exists(hwaddr: string): Promise<boolean> {
    try {
      await stat(this.pathOf(hwaddr));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  /** hwaddrs of every resource file on disk. */
  async list(): Promise<string[]> {
    const out: string[] = [];
    for (const name of await readdir(this.resourcesDir)) {
      const hwaddr = hwaddrOf(name);
      if (hwaddr) out.push(hwaddr);
    }
    return out;
  }

  /** Writes a snapshot record atomically; resolves to its path. */
  async writeSnapshot(rec: SnapshotRecord): Promise<string> {
    const stamp = rec.created_at.replace(/[:.]/g, '-');
    const name = `${rec.hwaddr.replaceAll(':', '-')}-${stamp}-${randomBytes(4).toString('hex')}.json`;
    return this.#writeAtomic(this.snapshotsDir, name, rec);
  }
}
