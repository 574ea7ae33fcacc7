/**
 * The docker driver's disks: fresh, reused and cloned `dir`/`ext4`/`xfs` disks under the
 * workspace, their per-resource records, locks, loop mounts and snapshots.
 * One module over ~350 lines on purpose: every kind of disk goes through the same lock →
 * materialise (image file, mkfs, loop mount, grow) → cleanup steps over one folder layout, and
 * the snapshot helpers read that same layout; the next split, if it grows, is the snapshot part.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError, type DriverLogger } from '../../contract/index.js';
import { DEFAULT_DISK_RESERVE, DiskSpace, type DiskLimits, type DiskRequest, type PromisedFile } from '../shared/disk-space.js';
import type { DockerDisk, DiskType } from './definition.js';
import { CLONE_REF } from './definition.js';
import { detachLoops, isMounted, listMounts, loopMount, mountsUnder, unmount } from '../shared/mounts.js';
import { macFromHex, macHex } from '../shared/mac.js';
import { slug } from './names.js';
import { CommandError, runCommand } from '../shared/run-command.js';
import { pathExists } from '../../lib/fs.js';

/** A disk prepared for a container: `source` is bind-mounted at `/mnt/<label>`. */
export interface AttachedDisk {
  name: string;
  label: string;
  type: DiskType;
  reuse: boolean;
  /** the disk's own folder (per resource, or per label + disk name when reused) */
  base: string;
  /** host path mounted into the container */
  source: string;
  /** file system image (ext4/xfs) */
  image?: string;
}

/** What is kept in `<workspace>/res/<mac hex>/resource.json`. */
export interface ResourceRecord {
  hwaddr: string;
  created: string;
  application: string;
  label: string;
  disks: AttachedDisk[];
}

export const GB = 1024 ** 3;

/** The path inside containers where a disk with this label appears. */
export function mountPathOf(label: string): string {
  return `/mnt/${label}`;
}

async function writeJson(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(value, null, 2), { mode: 0o600 });
  await rename(tmp, path);
}

/** Label name → a folder name (readable, collision-free). */
function labelDir(label: string): string {
  const s = slug(label === '' ? '_' : label);
  return s === label ? s : `${s}-${createHash('sha1').update(label).digest('hex').slice(0, 8)}`;
}

/**
 * Reuse scope (label owner, plus the user when another allocates from it: reuseScope) + label name
 * → the folder of its reused disks: two owners' labels of one name never share a disk
 * ("" owner = a caller that gave none: the label name alone, as before owners).
 */
export function reuseDir(owner: string, label: string): string {
  if (owner === '') return labelDir(label);
  const readable = `${slug(owner)}.${slug(label === '' ? '_' : label)}`.slice(0, 100);
  return `${readable}-${createHash('sha1').update(`${owner}\0${label}`).digest('hex').slice(0, 12)}`;
}

/** Who a reused disk belongs to. */
export interface ReuseKey {
  /** the label's owner */
  owner: string;
  label: string;
}

/**
 * Disks of docker resources. Layout under the workspace folder:
 *   res/<mac hex>/resource.json            what was allocated (written first: marks half-created resources)
 *   res/<mac hex>/disks/<name>/data/        a `dir` disk
 *   res/<mac hex>/disks/<name>/disk.img     an ext4/xfs disk (sparse file), mounted on …/mnt
 *   reuse/<owner.label-hash>/<name>/…       the same for reused disks (per label owner + label name), plus `lock` (holder's MAC) and `type`
 * Snapshots: <snapshots>/<id>/disks/<name>.img or <name>/ (dir).
 */
export class DiskManager {
  readonly #workspace: string;
  readonly #snapshots: string;
  readonly #log: DriverLogger;
  /** free-space checks of disk requests (docker/config.ts: disk_reserve, max_disk_size) */
  readonly space: DiskSpace;

  constructor(workspaceDir: string, snapshotsDir: string, log: DriverLogger, limits?: DiskLimits) {
    this.#workspace = workspaceDir;
    this.#snapshots = snapshotsDir;
    this.#log = log;
    this.space = new DiskSpace(limits ?? { reserve: DEFAULT_DISK_RESERVE, maxDiskGb: undefined }, () => this.#imageFiles());
  }

  /** Every ext4/xfs image file of live and reused disks, at its full (sparse) size. */
  async #imageFiles(): Promise<PromisedFile[]> {
    const out: PromisedFile[] = [];
    const add = async (path: string): Promise<void> => {
      try {
        out.push({ path, bytes: (await stat(path)).size });
      } catch {
        // not an image disk
      }
    };
    const res = join(this.#workspace, 'res');
    for (const r of await readdir(res).catch(() => [] as string[])) {
      for (const d of await readdir(join(res, r, 'disks')).catch(() => [] as string[])) await add(join(res, r, 'disks', d, 'disk.img'));
    }
    const reuse = this.#reuseRoot();
    for (const l of await readdir(reuse).catch(() => [] as string[])) {
      for (const d of await readdir(join(reuse, l)).catch(() => [] as string[])) await add(join(reuse, l, d, 'disk.img'));
    }
    return out;
  }

  /** What each disk needs on the workspace's file system (a reused disk: only its growth). */
  async requests(disks: readonly DockerDisk[], key: ReuseKey): Promise<DiskRequest[]> {
    await mkdir(this.#workspace, { recursive: true, mode: 0o700 });
    const out: DiskRequest[] = [];
    for (const disk of disks) {
      const wanted = disk.size * GB;
      let bytes = wanted;
      if (disk.reuse) {
        const base = join(this.#reuseRoot(), reuseDir(key.owner, key.label), disk.name);
        const have = await stat(join(base, disk.type === 'dir' ? 'data' : 'disk.img')).catch(() => undefined);
        if (have) bytes = disk.type === 'dir' ? 0 : Math.max(0, wanted - have.size);
      }
      out.push({ name: disk.name, type: disk.type, sizeGb: disk.size, bytes, dir: this.#workspace });
    }
    return out;
  }

  resDir(hwaddr: string): string {
    return join(this.#workspace, 'res', macHex(hwaddr));
  }

  #reuseRoot(): string {
    return join(this.#workspace, 'reuse');
  }

  /** Mark the start of an allocation: the resource folder and its record. */
  async begin(record: Omit<ResourceRecord, 'disks'>): Promise<void> {
    await mkdir(this.#workspace, { recursive: true, mode: 0o700 });
    await chmod(this.#workspace, 0o700);
    const dir = this.resDir(record.hwaddr);
    await mkdir(join(dir, 'disks'), { recursive: true, mode: 0o700 });
    await writeJson(join(dir, 'resource.json'), { ...record, disks: [] });
  }

  async record(hwaddr: string): Promise<ResourceRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.resDir(hwaddr), 'resource.json'), 'utf8')) as ResourceRecord;
    } catch {
      return undefined;
    }
  }

  /** hwaddrs that have a resource folder (including half-created ones). */
  async listResources(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(join(this.#workspace, 'res'));
    } catch {
      return [];
    }
    return names.map(macFromHex).filter((m): m is string => m !== undefined);
  }

  /**
   * Prepare every disk of an allocation (recorded one by one, so cleanup() finds them all), once
   * the file system has room for them (NO_CAPACITY naming the disk otherwise, nothing created).
   */
  async attach(hwaddr: string, disks: DockerDisk[], key: ReuseKey): Promise<AttachedDisk[]> {
    const release = await this.space.reserve(await this.requests(disks, key));
    try {
      const attached: AttachedDisk[] = [];
      for (const disk of disks) {
        attached.push(disk.reuse ? await this.#attachReused(hwaddr, disk, key) : await this.#attachFresh(hwaddr, disk));
        const rec = await this.record(hwaddr);
        if (rec) await writeJson(join(this.resDir(hwaddr), 'resource.json'), { ...rec, disks: attached });
      }
      return attached;
    } finally {
      release();
    }
  }

  async #attachFresh(hwaddr: string, disk: DockerDisk): Promise<AttachedDisk> {
    const base = join(this.resDir(hwaddr), 'disks', disk.name);
    await mkdir(base, { recursive: true, mode: 0o700 });
    return this.#materialize(base, disk, false);
  }

  async #attachReused(hwaddr: string, disk: DockerDisk, key: ReuseKey): Promise<AttachedDisk> {
    const base = join(this.#reuseRoot(), reuseDir(key.owner, key.label), disk.name);
    await mkdir(base, { recursive: true, mode: 0o700 });
    await this.#lock(base, hwaddr, disk);
    const typeFile = join(base, 'type');
    const known = (await pathExists(typeFile)) ? (await readFile(typeFile, 'utf8')).trim() : undefined;
    if (known !== undefined && known !== disk.type) {
      throw new DriverError(
        'INVALID_DEFINITION',
        `requirements.disks.${disk.name}.type: the reused disk was created as ${known}, not ${disk.type}`,
        {
          field: `requirements.disks.${disk.name}.type`,
        },
      );
    }
    const fresh = known === undefined;
    const result = await this.#materialize(base, disk, !fresh);
    if (fresh) await writeFile(typeFile, disk.type);
    return result;
  }

  /** Take the reuse lock of a disk folder; a lock whose holder has no resource folder is stale. */
  async #lock(base: string, hwaddr: string, disk: DockerDisk): Promise<void> {
    const lock = join(base, 'lock');
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(lock, 'wx', 0o600);
        await fh.writeFile(hwaddr);
        await fh.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = (await readFile(lock, 'utf8').catch(() => '')).trim();
      if (holder === hwaddr) return;
      if (holder !== '' && (await pathExists(this.resDir(holder)))) {
        throw new DriverError(
          'NO_CAPACITY',
          `reused disk "${disk.name}" is in use by resource ${holder}; it is never attached twice at once`,
        );
      }
      this.#log.warn({ disk: disk.name, holder }, 'removing a stale reuse lock');
      await rm(lock, { force: true });
    }
    throw new DriverError('NO_CAPACITY', `reused disk "${disk.name}" is locked by another allocation`);
  }

  /** Create (or reopen, when `existing`) the disk in `base` and make it mountable. */
  async #materialize(base: string, disk: DockerDisk, existing: boolean): Promise<AttachedDisk> {
    const out = { name: disk.name, label: disk.label, type: disk.type, reuse: disk.reuse, base };
    const clone = !existing && disk.clone !== '' ? await this.#cloneSource(disk) : undefined;
    if (disk.type === 'dir') {
      const data = join(base, 'data');
      if (!existing || !(await pathExists(data))) {
        await rm(data, { recursive: true, force: true });
        await mkdir(data, { mode: 0o777 });
        await chmod(data, 0o777);
        if (clone) await runCommand('cp', ['-a', '--reflink=auto', `${clone}/.`, `${data}/`], { timeoutMs: 3_600_000 });
      }
      return { ...out, source: data };
    }
    const image = join(base, 'disk.img');
    const mnt = join(base, 'mnt');
    await mkdir(mnt, { recursive: true, mode: 0o700 });
    const wanted = disk.size * GB;
    let grow = false;
    if (!existing || !(await pathExists(image))) {
      if (clone) {
        await runCommand('cp', ['--sparse=always', '--reflink=auto', clone, image], { timeoutMs: 3_600_000 });
        const have = (await stat(image)).size;
        if (have < wanted) {
          await truncate(image, wanted);
          grow = true;
        } else if (have > wanted) {
          this.#log.warn({ disk: disk.name, have, wanted }, 'clone source is bigger than the requested size; keeping its size');
        }
      } else {
        const fh = await open(image, 'w', 0o600);
        await fh.truncate(wanted);
        await fh.close();
        if (disk.type === 'ext4') {
          await runCommand('mkfs.ext4', [
            '-q',
            '-F',
            '-m',
            '0',
            '-E',
            'lazy_itable_init=1,lazy_journal_init=1',
            '-L',
            disk.label.slice(0, 16),
            image,
          ]);
        } else {
          await runCommand('mkfs.xfs', ['-q', '-f', '-L', disk.label.slice(0, 12), image]);
        }
      }
    } else if ((await stat(image)).size < wanted) {
      await truncate(image, wanted);
      grow = true;
    }
    // ext4 grows offline (online resize is refused by some kernels), xfs only online
    if (grow && disk.type === 'ext4' && !(await isMounted(mnt))) {
      await this.#fsck(image);
      await runCommand('resize2fs', [image], { timeoutMs: 600_000 });
      grow = false;
    }
    if (!(await isMounted(mnt))) await loopMount(image, mnt, disk.type);
    if (grow) await this.#growMounted(mnt, disk.type);
    if (!existing && !clone) await chmod(mnt, 0o777);
    return { ...out, source: mnt, image };
  }

  /** e2fsck -f -y: exit 0 (clean) or 1 (fixed, e.g. the journal of a copy made while frozen) are fine. */
  async #fsck(image: string): Promise<void> {
    try {
      await runCommand('e2fsck', ['-f', '-y', image], { timeoutMs: 600_000 });
    } catch (err) {
      if (!(err instanceof CommandError) || err.exitCode !== 1) throw err;
    }
  }

  async #growMounted(mnt: string, type: DiskType): Promise<void> {
    if (type === 'xfs') {
      await runCommand('xfs_growfs', [mnt]);
      return;
    }
    const m = (await listMounts()).find((e) => e.mountPoint === mnt);
    if (!m) throw new DriverError('BACKEND', `${mnt} is not mounted`);
    await runCommand('resize2fs', [m.source]);
  }

  /** Where a clone value ("s-…/name") points; checks the snapshot exists and has a disk of that type. */
  async #cloneSource(disk: DockerDisk): Promise<string> {
    const m = CLONE_REF.exec(disk.clone);
    const field = `requirements.disks.${disk.name}.clone`;
    if (!m) throw new DriverError('INVALID_DEFINITION', `${field}: not a snapshot disk reference`, { field });
    const [, id, name] = m as unknown as [string, string, string];
    const dir = join(this.#snapshots, id, 'disks');
    const info = await this.snapshotRecord(id);
    const saved = info?.disks[name];
    if (!saved) throw new DriverError('INVALID_DEFINITION', `${field}: snapshot ${id} has no disk "${name}"`, { field });
    const savedKind = saved.type === 'dir' ? 'dir' : 'image';
    const wantKind = disk.type === 'dir' ? 'dir' : 'image';
    if (savedKind !== wantKind || (wantKind === 'image' && saved.type !== disk.type)) {
      throw new DriverError('INVALID_DEFINITION', `${field}: snapshot disk is ${saved.type}, this disk is ${disk.type}`, { field });
    }
    return join(dir, disk.type === 'dir' ? name : `${name}.img`);
  }

  async snapshotRecord(id: string): Promise<SnapshotRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#snapshots, id, 'snapshot.json'), 'utf8')) as SnapshotRecord;
    } catch {
      return undefined;
    }
  }

  /** Copy the disks of a resource into a snapshot folder (file systems are frozen while copied). */
  async snapshotDisks(hwaddr: string, id: string): Promise<Record<string, { type: DiskType; path: string }>> {
    const rec = await this.record(hwaddr);
    const dir = join(this.#snapshots, id, 'disks');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const out: Record<string, { type: DiskType; path: string }> = {};
    for (const d of rec?.disks ?? []) {
      if (d.type === 'dir') {
        const dest = join(dir, d.name);
        await mkdir(dest, { mode: 0o777 });
        await runCommand('cp', ['-a', '--reflink=auto', `${d.source}/.`, `${dest}/`], { timeoutMs: 3_600_000 });
        await chmod(dest, 0o777);
        out[d.name] = { type: d.type, path: dest };
        continue;
      }
      const dest = join(dir, `${d.name}.img`);
      await runCommand('fsfreeze', ['-f', d.source], { timeoutMs: 60_000 });
      try {
        await runCommand('cp', ['--sparse=always', '--reflink=auto', d.image!, dest], { timeoutMs: 3_600_000 });
      } finally {
        await runCommand('fsfreeze', ['-u', d.source], { timeoutMs: 60_000 });
      }
      out[d.name] = { type: d.type, path: dest };
    }
    return out;
  }

  async writeSnapshotRecord(id: string, record: SnapshotRecord): Promise<void> {
    await mkdir(join(this.#snapshots, id), { recursive: true, mode: 0o700 });
    await writeJson(join(this.#snapshots, id, 'snapshot.json'), record);
  }

  async removeSnapshot(id: string): Promise<void> {
    await rm(join(this.#snapshots, id), { recursive: true, force: true });
  }

  /**
   * Remove every trace of a resource's disks: unmount (and free loop devices), release its reuse
   * locks (reused disks stay), delete the resource folder. Idempotent; works from the folders
   * alone, so it also cleans up after a crash.
   */
  async cleanup(hwaddr: string): Promise<void> {
    const reuseRoot = this.#reuseRoot();
    for (const labelName of await readdir(reuseRoot).catch(() => [] as string[])) {
      for (const diskName of await readdir(join(reuseRoot, labelName)).catch(() => [] as string[])) {
        const base = join(reuseRoot, labelName, diskName);
        const holder = (await readFile(join(base, 'lock'), 'utf8').catch(() => '')).trim();
        if (holder !== hwaddr) continue;
        await unmount(join(base, 'mnt'));
        if (await pathExists(join(base, 'disk.img'))) await detachLoops(join(base, 'disk.img'));
        await rm(join(base, 'lock'), { force: true });
      }
    }
    const dir = this.resDir(hwaddr);
    if (!(await pathExists(dir))) return;
    for (const m of await mountsUnder(dir)) await unmount(m.mountPoint);
    for (const name of await readdir(join(dir, 'disks')).catch(() => [] as string[])) {
      const image = join(dir, 'disks', name, 'disk.img');
      if (await pathExists(image)) await detachLoops(image);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** snapshot.json: what a snapshot holds (the info string snapshot() returns is built from it). */
export interface SnapshotRecord {
  id: string;
  hwaddr: string;
  created: string;
  image: string;
  disks: Record<string, { type: DiskType; path: string; clone: string }>;
}
