/**
 * The native driver's disks. Every disk is a sparse ext4 image loop-mounted on the host (so the
 * kernel enforces its size: a `dir` is a directory under that quota, an `ext4` a file system with
 * its label) and bind-mounted into the sandbox at /mnt/<label>; its root belongs to the sandbox's
 * uid. Layout:
 *
 *   <data>/envs/<mac id>/disks/<name>.img     a fresh disk (removed with the environment)
 *   <data>/reuse/<scope hash>/<name>/disk.img a reused disk (per label owner + label name), plus
 *                                              `lock` (the holder's hwaddr) and `type`
 *   <sandbox dir>/<mac id>/mnt/<name>          where a disk is mounted while the sandbox lives
 *   <data>/snapshots/<id>/<name>.tar.zst       a snapshot: each disk's files (tar, zstd)
 *
 * A clone is a fresh disk filled from such a tar.
 */
import { createHash } from 'node:crypto';
import { chmod, mkdir, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError, type DriverLogger } from '../../contract/index.js';
import { pathExists } from '../../lib/fs.js';
import { DiskSpace, type DiskLimits, type PromisedFile } from '../shared/disk-space.js';
import { detachLoops, isMounted, loopMount, mountsUnder, unmount } from '../shared/mounts.js';
import { CommandError, runCommand } from '../shared/run-command.js';
import { CLONE_REF, type DiskType, type NativeDisk } from './definition.js';
import { mkdirWithMode } from './modes.js';

const GB = 1024 ** 3;

/** A disk as the sandbox gets it (kept in the environment's state file). */
export interface AttachedDisk {
  name: string;
  label: string;
  type: DiskType;
  reuse: boolean;
  image: string;
  /** host mount point (bind source of /mnt/<label>) */
  mnt: string;
}

/** What snapshot() reports for each disk. */
export interface SnapshotDisk {
  type: DiskType;
  path: string;
  /** the value a label's `clone` takes to start a disk from it */
  clone: string;
}

export interface SnapshotRecord {
  id: string;
  hwaddr: string;
  created: string;
  disks: Record<string, SnapshotDisk>;
}

export interface DiskPaths {
  dataDir: string;
  sandboxDir: string;
}

function reuseDirName(scope: string, label: string): string {
  return createHash('sha256').update(`${scope}\0${label}`).digest('hex').slice(0, 24);
}

export class NativeDisks {
  readonly #paths: DiskPaths;
  readonly #log: DriverLogger;
  readonly space: DiskSpace;

  constructor(paths: DiskPaths, limits: DiskLimits, log: DriverLogger) {
    this.#paths = paths;
    this.#log = log;
    this.space = new DiskSpace(limits, () => this.#imageFiles());
  }

  envDir(id: string): string {
    return join(this.#paths.dataDir, 'envs', id);
  }

  mountDir(id: string): string {
    return join(this.#paths.sandboxDir, id, 'mnt');
  }

  #reuseRoot(): string {
    return join(this.#paths.dataDir, 'reuse');
  }

  snapshotDir(): string {
    return join(this.#paths.dataDir, 'snapshots');
  }

  async #imageFiles(): Promise<PromisedFile[]> {
    const out: PromisedFile[] = [];
    const add = async (path: string): Promise<void> => {
      const s = await stat(path).catch(() => undefined);
      if (s) out.push({ path, bytes: s.size });
    };
    const envs = join(this.#paths.dataDir, 'envs');
    for (const e of await readdir(envs).catch(() => [] as string[])) {
      for (const f of await readdir(join(envs, e, 'disks')).catch(() => [] as string[])) await add(join(envs, e, 'disks', f));
    }
    for (const l of await readdir(this.#reuseRoot()).catch(() => [] as string[])) {
      for (const d of await readdir(join(this.#reuseRoot(), l)).catch(() => [] as string[]))
        await add(join(this.#reuseRoot(), l, d, 'disk.img'));
    }
    return out;
  }

  /** What each disk needs on the data dir's file system (a reused disk: only its growth). */
  async requests(
    disks: readonly NativeDisk[],
    scope: string,
    label: string,
  ): Promise<Array<{ name: string; type: string; sizeGb: number; bytes: number; dir: string }>> {
    await mkdir(this.#paths.dataDir, { recursive: true, mode: 0o700 });
    const out = [];
    for (const d of disks) {
      let bytes = d.size * GB;
      if (d.reuse) {
        const have = await stat(join(this.#reuseRoot(), reuseDirName(scope, label), d.name, 'disk.img')).catch(() => undefined);
        if (have) bytes = Math.max(0, bytes - have.size);
      }
      out.push({ name: d.name, type: d.type, sizeGb: d.size, bytes, dir: this.#paths.dataDir });
    }
    return out;
  }

  /**
   * Make and mount every disk of a sandbox; `onAttached` records each as soon as it exists, so a
   * failure half-way (or a crash) leaves a record that cleanup() works from.
   */
  async attach(
    id: string,
    hwaddr: string,
    disks: readonly NativeDisk[],
    owner: { scope: string; label: string; uid: number },
    isLive: (hwaddr: string) => Promise<boolean>,
    onAttached: (d: AttachedDisk[]) => Promise<void>,
  ): Promise<AttachedDisk[]> {
    if (disks.length === 0) return [];
    const release = await this.space.reserve(await this.requests(disks, owner.scope, owner.label));
    const out: AttachedDisk[] = [];
    try {
      await mkdir(join(this.envDir(id), 'disks'), { recursive: true, mode: 0o700 });
      // the sandbox's uid reaches its mount points (bwrap binds them as that uid); the mounted roots are its own, 0700
      await mkdirWithMode(this.mountDir(id), 0o711);
      for (const d of disks) {
        const mnt = join(this.mountDir(id), d.name);
        await mkdir(mnt, { recursive: true, mode: 0o700 });
        let image: string;
        let fresh: boolean;
        if (d.reuse) {
          const base = join(this.#reuseRoot(), reuseDirName(owner.scope, owner.label), d.name);
          await mkdir(base, { recursive: true, mode: 0o700 });
          await this.#lock(base, hwaddr, d, isLive);
          const known = (await readFile(join(base, 'type'), 'utf8').catch(() => '')).trim();
          if (known !== '' && known !== d.type) {
            const field = `requirements.disks.${d.name}.type`;
            await rm(join(base, 'lock'), { force: true });
            throw new DriverError('INVALID_DEFINITION', `${field}: the reused disk was created as ${known}, not ${d.type}`, { field });
          }
          image = join(base, 'disk.img');
          fresh = !(await pathExists(image));
          out.push({ name: d.name, label: d.label, type: d.type, reuse: true, image, mnt });
          await onAttached(out);
          if (fresh) {
            await this.#create(image, d);
            await writeFile(join(base, 'type'), d.type);
          } else {
            await this.#grow(image, d);
          }
        } else {
          image = join(this.envDir(id), 'disks', `${d.name}.img`);
          fresh = true;
          out.push({ name: d.name, label: d.label, type: d.type, reuse: false, image, mnt });
          await onAttached(out);
          await this.#create(image, d);
        }
        await loopMount(image, mnt, 'ext4');
        const filled = fresh && d.clone !== '' ? await this.#fillFromClone(d, mnt) : false;
        // the sandbox's uid owns the disk: all of it when it holds files of an earlier owner
        await runCommand('chown', [...(fresh && !filled ? [] : ['-R']), `${owner.uid}:${owner.uid}`, mnt], { timeoutMs: 600_000 });
        await chmod(mnt, 0o700);
      }
      return out;
    } finally {
      release();
    }
  }

  async #create(image: string, d: NativeDisk): Promise<void> {
    const fh = await open(image, 'w', 0o600);
    await fh.truncate(d.size * GB);
    await fh.close();
    await runCommand(
      'mkfs.ext4',
      ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-L', d.label.slice(0, 16), image],
      {
        timeoutMs: 600_000,
      },
    );
  }

  /** A reused disk asked bigger than it is grows (offline, before it is mounted). */
  async #grow(image: string, d: NativeDisk): Promise<void> {
    const have = (await stat(image)).size;
    if (have >= d.size * GB) return;
    await truncate(image, d.size * GB);
    try {
      await runCommand('e2fsck', ['-f', '-y', image], { timeoutMs: 600_000 });
    } catch (err) {
      if (!(err instanceof CommandError) || err.exitCode !== 1) throw err;
    }
    await runCommand('resize2fs', [image], { timeoutMs: 600_000 });
  }

  async #fillFromClone(d: NativeDisk, mnt: string): Promise<boolean> {
    const m = CLONE_REF.exec(d.clone);
    const field = `requirements.disks.${d.name}.clone`;
    if (!m) throw new DriverError('INVALID_DEFINITION', `${field}: not a snapshot disk reference`, { field });
    const [, snap, name] = m as unknown as [string, string, string];
    const rec = await this.snapshotRecord(snap);
    const saved = rec?.disks[name];
    if (!rec || !saved) throw new DriverError('INVALID_DEFINITION', `${field}: no snapshot ${snap} with a disk "${name}"`, { field });
    await runCommand('tar', ['--zstd', '-x', '--numeric-owner', '-f', saved.path, '-C', mnt], { timeoutMs: 3_600_000 });
    return true;
  }

  /** Take the reuse lock of a disk folder; a lock whose holder is no live sandbox is stale. */
  async #lock(base: string, hwaddr: string, d: NativeDisk, isLive: (hwaddr: string) => Promise<boolean>): Promise<void> {
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
      if (holder !== '' && (await isLive(holder))) {
        throw new DriverError(
          'NO_CAPACITY',
          `reused disk "${d.name}" is in use by environment ${holder}; it is never attached twice at once`,
        );
      }
      this.#log.warn({ disk: d.name, holder }, 'removing a stale reuse lock');
      await rm(lock, { force: true });
    }
    throw new DriverError('NO_CAPACITY', `reused disk "${d.name}" is locked by another allocation`);
  }

  async snapshotRecord(id: string): Promise<SnapshotRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(this.snapshotDir(), id, 'snapshot.json'), 'utf8')) as SnapshotRecord;
    } catch {
      return undefined;
    }
  }

  /** tar (zstd) every disk's files into a new snapshot folder; the file systems are frozen while read. */
  async snapshot(id: string, hwaddr: string, disks: readonly AttachedDisk[]): Promise<SnapshotRecord> {
    const dir = join(this.snapshotDir(), id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    try {
      const rec: SnapshotRecord = { id, hwaddr, created: new Date().toISOString(), disks: {} };
      for (const d of disks) {
        const path = join(dir, `${d.name}.tar.zst`);
        await runCommand('fsfreeze', ['-f', d.mnt], { timeoutMs: 60_000 });
        try {
          await runCommand('tar', ['--zstd', '-c', '--numeric-owner', '--xattrs', '-f', path, '-C', d.mnt, '--exclude=./lost+found', '.'], {
            timeoutMs: 3_600_000,
          });
        } finally {
          await runCommand('fsfreeze', ['-u', d.mnt], { timeoutMs: 60_000 });
        }
        rec.disks[d.name] = { type: d.type, path, clone: `${id}/${d.name}` };
      }
      await writeFile(join(dir, 'snapshot.json'), JSON.stringify(rec, null, 2), { mode: 0o600 });
      return rec;
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * Remove every trace of a sandbox's disks: unmount (loop devices are freed), release its reuse
   * locks (reused disks stay), delete its fresh images. Works from the folders alone (idempotent).
   */
  async cleanup(id: string, hwaddr: string): Promise<void> {
    for (const m of await mountsUnder(join(this.#paths.sandboxDir, id))) await unmount(m.mountPoint);
    for (const l of await readdir(this.#reuseRoot()).catch(() => [] as string[])) {
      for (const d of await readdir(join(this.#reuseRoot(), l)).catch(() => [] as string[])) {
        const base = join(this.#reuseRoot(), l, d);
        if ((await readFile(join(base, 'lock'), 'utf8').catch(() => '')).trim() !== hwaddr) continue;
        await detachLoops(join(base, 'disk.img'));
        await rm(join(base, 'lock'), { force: true });
      }
    }
    for (const f of await readdir(join(this.envDir(id), 'disks')).catch(() => [] as string[]))
      await detachLoops(join(this.envDir(id), 'disks', f));
    await rm(this.envDir(id), { recursive: true, force: true });
    if (await isMounted(join(this.#paths.sandboxDir, id))) await unmount(join(this.#paths.sandboxDir, id));
  }
}
