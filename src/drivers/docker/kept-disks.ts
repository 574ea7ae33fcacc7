import { lstat, readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DriverError, type DriverLogger, type StoredItem } from '../../contract/index.js';
import { pathExists } from '../../lib/fs.js';
import { detachLoops, unmount } from '../shared/mounts.js';
import { backendError, isNotFound } from './engine.js';

/** Ids: "reuse~<label folder>~<disk>" and "snapshot~<id>" ('~' is in no folder name the driver makes). */
const PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$/;

/** Bytes a file or folder takes on disk (allocated blocks: a sparse disk image counts what it uses). */
async function allocatedBytes(path: string, depth = 0): Promise<number> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return 0;
  let total = st.blocks * 512;
  if (st.isDirectory() && depth < 64) {
    for (const name of await readdir(path).catch(() => [] as string[])) total += await allocatedBytes(join(path, name), depth + 1);
  }
  return total;
}

const macHex = (mac: string): string => mac.replace(/:/g, '').toLowerCase();

/**
 * What the docker driver keeps between resources besides images, for admins: reused disks
 * (`<workspace>/reuse/<label folder>/<disk>/`, in use while a resource holds their lock) and
 * snapshots (`<snapshots>/<id>/` plus the image a full snapshot committed). Listed with their size
 * and last use; removing one a resource uses is refused (IN_USE).
 */
export class KeptDisks {
  readonly #docker: Docker;
  readonly #workspace: string;
  readonly #snapshots: string;
  readonly #log: DriverLogger;

  constructor(docker: Docker, workspaceDir: string, snapshotsDir: string, log: DriverLogger) {
    this.#docker = docker;
    this.#workspace = workspaceDir;
    this.#snapshots = snapshotsDir;
    this.#log = log;
  }

  /** The MAC holding a reused disk's lock, when that resource still exists. */
  async #holder(base: string): Promise<string | undefined> {
    const holder = (await readFile(join(base, 'lock'), 'utf8').catch(() => '')).trim();
    if (holder === '') return undefined;
    return (await pathExists(join(this.#workspace, 'res', macHex(holder)))) ? holder : undefined;
  }

  async #snapshotImage(id: string): Promise<string> {
    try {
      const rec = JSON.parse(await readFile(join(this.#snapshots, id, 'snapshot.json'), 'utf8')) as { image?: unknown };
      return typeof rec.image === 'string' ? rec.image : '';
    } catch {
      return '';
    }
  }

  async #containerImages(): Promise<Set<string>> {
    const list = await this.#docker.listContainers({ all: true }).catch((err: unknown) => {
      throw backendError('cannot list containers', err);
    });
    return new Set(list.flatMap((c) => [c.ImageID, c.Image]));
  }

  async list(): Promise<StoredItem[]> {
    const out: StoredItem[] = [];
    const reuse = join(this.#workspace, 'reuse');
    for (const label of await readdir(reuse).catch(() => [] as string[])) {
      for (const disk of await readdir(join(reuse, label)).catch(() => [] as string[])) {
        const base = join(reuse, label, disk);
        const st = await stat(base).catch(() => undefined);
        if (!st?.isDirectory()) continue;
        const type = (await readFile(join(base, 'type'), 'utf8').catch(() => '?')).trim();
        out.push({
          id: `reuse~${label}~${disk}`,
          kind: 'reused-disk',
          name: `${type} disk "${disk}" of ${label}`,
          bytes: await allocatedBytes(base),
          lastUsed: st.mtime.toISOString(),
          inUse: (await this.#holder(base)) !== undefined,
        });
      }
    }
    const images = await this.#containerImages();
    for (const id of await readdir(this.#snapshots).catch(() => [] as string[])) {
      const dir = join(this.#snapshots, id);
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory()) continue;
      const image = await this.#snapshotImage(id);
      let imageBytes = 0;
      if (image)
        imageBytes = await this.#docker
          .getImage(image)
          .inspect()
          .then(
            (i) => i.Size,
            () => 0,
          );
      out.push({
        id: `snapshot~${id}`,
        kind: 'snapshot',
        name: image ? `snapshot ${id} (disks and image ${image})` : `snapshot ${id} (disks)`,
        bytes: (await allocatedBytes(dir)) + imageBytes,
        lastUsed: st.mtime.toISOString(),
        inUse: image !== '' && images.has(image),
      });
    }
    return out;
  }

  async remove(id: string): Promise<void> {
    const parts = id.split('~');
    const notFound = (): DriverError =>
      new DriverError('NOT_FOUND', `no kept disk or snapshot ${JSON.stringify(id.slice(0, 200))} on this driver instance`);
    if (parts.some((p) => !PART.test(p) || p === '.' || p === '..')) throw notFound();
    if (parts[0] === 'reuse' && parts.length === 3) {
      const base = join(this.#workspace, 'reuse', parts[1]!, parts[2]!);
      if (!(await stat(base).catch(() => undefined))?.isDirectory()) throw notFound();
      const holder = await this.#holder(base);
      if (holder) throw new DriverError('IN_USE', `reused disk ${id} is attached to resource ${holder}; deallocate it first`);
      await unmount(join(base, 'mnt'));
      if (await pathExists(join(base, 'disk.img'))) await detachLoops(join(base, 'disk.img'));
      await rm(base, { recursive: true, force: true });
      await rmdir(join(this.#workspace, 'reuse', parts[1]!)).catch(() => undefined); // only when empty
      this.#log.info({ disk: id }, 'reused disk removed');
      return;
    }
    if (parts[0] === 'snapshot' && parts.length === 2) {
      const dir = join(this.#snapshots, parts[1]!);
      if (!(await stat(dir).catch(() => undefined))?.isDirectory()) throw notFound();
      const image = await this.#snapshotImage(parts[1]!);
      if (image && (await this.#containerImages()).has(image)) {
        throw new DriverError('IN_USE', `snapshot ${parts[1]!}: a container runs its image ${image}; deallocate it first`);
      }
      if (image) {
        await this.#docker
          .getImage(image)
          .remove({ force: true })
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw backendError(`cannot remove the snapshot image ${image}`, err);
          });
      }
      await rm(dir, { recursive: true, force: true });
      this.#log.info({ snapshot: parts[1], image }, 'snapshot removed');
      return;
    }
    throw notFound();
  }
}
