import { readFile, rename, writeFile } from 'node:fs/promises';
import type Docker from 'dockerode';
import { DriverError, type DriverLogger } from '../../contract/index.js';
import { cancelledError, SharedWork, type ImageCache, type ImageRef } from '../shared/index.js';
import { IMAGE_ID, type DockerOptions } from './definition.js';
import { describeProgress, type ImagePuller } from './pulls.js';
import { checkRegistryAllowed, type RegistrySettings } from './registry-config.js';
import { parseRegistryRef, type RegistryRef } from './registry-ref.js';
import type { ImageRecords } from './image-records.js';
import type { StoredItem } from '../../contract/index.js';
import { indexTar, type TarIndex } from './tar-index.js';
import { isNotFound, backendError, engineMessage, readProgress } from './engine.js';

/** The image a container runs, with the parts of its config the driver needs. */
export interface ResolvedImage {
  id: string;
  hasCommand: boolean;
  env: string[];
}

interface ArchiveImages {
  kind: TarIndex['kind'];
  /** images of a `docker save` archive, or the single imported image of a rootfs tarball */
  images: Array<{ id: string; repoTags: string[] }>;
}

/** Repository for the tags that mark rootfs tarballs already imported: `shoal-archive:sha256-<hex>`. */
export const ARCHIVE_REPO = 'shoal-archive';

function archiveTag(sum: string): string {
  return sum.replace(':', '-').slice(0, 128);
}

/** "busybox" → "busybox:latest", "docker.io/library/x:1" → "x:1" (how `docker save` spells RepoTags). */
export function normalizeRef(ref: string): string {
  let r = ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
  if (r.includes('@')) return r;
  const lastSlash = r.lastIndexOf('/');
  if (!r.slice(lastSlash + 1).includes(':')) r = `${r}:latest`;
  return r;
}

function splitRef(ref: string): { repo: string; tag: string } {
  const n = normalizeRef(ref);
  const i = n.lastIndexOf(':');
  return { repo: n.slice(0, i), tag: n.slice(i + 1) };
}

/**
 * Makes the images of a definition present in the daemon: archives come through the ImageCache
 * (verified, cached by checksum), `docker save` archives are loaded, rootfs tarballs imported.
 * Each archive is loaded once per node (and once at a time). Without archives, `options.image` is
 * pulled from its registry (ImagePuller) when the node allows that registry.
 */
export class ImageStore {
  readonly #docker: Docker;
  readonly #cache: ImageCache;
  readonly #log: DriverLogger;
  /** one load per archive at a time, shared by the allocations that wait for it (each may leave) */
  readonly #archives = new SharedWork<ArchiveImages>((sum, signal) => cancelledError(`image ${sum}`, signal));
  /** archives known to be in the daemon */
  readonly #loaded = new Map<string, ArchiveImages>();
  readonly #inspected = new Map<string, ResolvedImage>();
  /** "<id>><name>" pairs tagged already (a rootfs import is tagged with the label's image name) */
  readonly #tagged = new Set<string>();

  readonly #puller: ImagePuller;
  readonly #registries: RegistrySettings;
  readonly #records: ImageRecords;
  /** bytes of the driver's daemon images above which the least recently used unused ones go */
  readonly #maxBytes: number;
  /** image id → allocations between resolve() and their container's create (never evicted meanwhile) */
  readonly #pins = new Map<string, number>();

  constructor(
    docker: Docker,
    cache: ImageCache,
    log: DriverLogger,
    puller: ImagePuller,
    registries: RegistrySettings,
    records: ImageRecords,
    maxBytes: number,
  ) {
    this.#docker = docker;
    this.#cache = cache;
    this.#log = log;
    this.#puller = puller;
    this.#registries = registries;
    this.#records = records;
    this.#maxBytes = maxBytes;
  }

  /** The allocation that resolved this image has created its container (or given up). */
  unpin(id: string): void {
    const n = (this.#pins.get(id) ?? 1) - 1;
    if (n <= 0) this.#pins.delete(id);
    else this.#pins.set(id, n);
  }

  #pin(image: ResolvedImage): ResolvedImage {
    this.#pins.set(image.id, (this.#pins.get(image.id) ?? 0) + 1);
    return image;
  }

  /**
   * Record that an allocation uses an image the driver manages (`add`: it was just loaded or pulled;
   * else only one it already manages is touched) and, when one was added, evict down to the bound.
   * The image stays pinned (never evicted) until the caller's unpin().
   */
  async #used(image: ResolvedImage, ref: string, add: boolean): Promise<ResolvedImage> {
    this.#pin(image);
    try {
      if (!add && !(await this.#records.get(image.id))) return image;
      const { added } = await this.#records.used(image.id, ref, async () => {
        const info = await this.#docker.getImage(image.id).inspect();
        return info.Size;
      });
      if (added) await this.#evict();
      return image;
    } catch (err) {
      this.unpin(image.id);
      throw err;
    }
  }

  /** Image ids some container (running or not) was created from. */
  async #imagesOfContainers(): Promise<Set<string>> {
    const list = await this.#docker.listContainers({ all: true }).catch((err: unknown) => {
      throw backendError('cannot list containers', err);
    });
    return new Set(list.map((c) => c.ImageID));
  }

  /** Remove least recently used managed images no container uses until the total fits max_bytes. */
  async #evict(): Promise<void> {
    const records = await this.#records.list();
    let total = records.reduce((n, r) => n + r.bytes, 0);
    if (total <= this.#maxBytes) return;
    const used = await this.#imagesOfContainers();
    for (const r of records.sort((a, b) => a.lastUsed.localeCompare(b.lastUsed))) {
      if (total <= this.#maxBytes) break;
      if (used.has(r.id) || this.#pins.has(r.id)) continue;
      try {
        await this.#docker.getImage(r.id).remove({ force: true });
      } catch (err) {
        if (!isNotFound(err)) {
          this.#log.warn({ image: r.id, err: engineMessage(err) }, 'cannot evict an image');
          continue;
        }
      }
      await this.#records.delete(r.id);
      this.forget();
      total -= r.bytes;
      this.#log.info({ image: r.id, refs: r.refs, bytes: r.bytes, lastUsed: r.lastUsed }, 'image evicted (image_cache_max_gb)');
    }
    if (total > this.#maxBytes) this.#log.warn({ bytes: total, max: this.#maxBytes }, 'image cache over its bound: the rest is in use');
  }

  /** The images the driver manages, for admins. */
  async list(): Promise<StoredItem[]> {
    const used = await this.#imagesOfContainers();
    return (await this.#records.list()).map((r) => ({
      id: r.id,
      kind: 'image',
      name: r.refs.join(', '),
      bytes: r.bytes,
      lastUsed: r.lastUsed,
      inUse: used.has(r.id) || this.#pins.has(r.id),
    }));
  }

  /** Remove a managed image (NOT_FOUND when the driver does not manage it, IN_USE when a container uses it). */
  async remove(id: string): Promise<void> {
    const r = await this.#records.get(id);
    if (!r) throw new DriverError('NOT_FOUND', `no cached image ${id} on this driver instance`);
    if ((await this.#imagesOfContainers()).has(id) || this.#pins.has(id)) {
      throw new DriverError('IN_USE', `image ${id} (${r.refs.join(', ')}) is used by a container; deallocate it first`);
    }
    try {
      await this.#docker.getImage(id).remove({ force: true });
    } catch (err) {
      if (!isNotFound(err)) throw backendError(`cannot remove image ${id}`, err);
    }
    await this.#records.delete(id);
    this.forget();
    this.#log.info({ image: id, refs: r.refs }, 'cached image removed');
  }

  /** Refuse (INVALID_DEFINITION on options.image) a registry this node does not allow. */
  checkRegistry(opts: DockerOptions): void {
    if (opts.images.length === 0 && !IMAGE_ID.test(opts.image)) checkRegistryAllowed(this.#registries, parseRegistryRef(opts.image));
  }

  /** Forget what is known in memory (after the daemon lost an image). */
  forget(): void {
    this.#loaded.clear();
    this.#inspected.clear();
    this.#tagged.clear();
  }

  /**
   * Make sure the image to run is present; resolves to its id. Throws DriverError IMAGE. When
   * `signal` aborts the caller stops waiting, and an archive download nobody else waits for stops.
   */
  async resolve(opts: DockerOptions, signal?: AbortSignal, progress?: (note: string) => void): Promise<ResolvedImage> {
    if (opts.images.length === 0) {
      if (IMAGE_ID.test(opts.image)) return this.#inspect(opts.image, true);
      return this.#fromRegistry(opts, signal, progress);
    }
    const archives = await Promise.all(opts.images.map((ref, i) => this.#archive(ref, `options.images[${i}]`, signal)));
    if (signal?.aborted) throw cancelledError('options.images', signal);
    const wanted = opts.image.startsWith('sha256:') ? opts.image : normalizeRef(opts.image);
    let id: string | undefined;
    for (const a of archives) {
      for (const img of a.images) {
        if (img.id === wanted || img.repoTags.map(normalizeRef).includes(wanted)) id ??= img.id;
      }
    }
    if (id === undefined && !opts.image.startsWith('sha256:')) {
      const rootfs = archives.find((a) => a.kind === 'rootfs');
      if (rootfs) {
        const rootId = rootfs.images[0]!.id;
        id = rootId;
        const key = `${rootId}>${opts.image}`;
        if (!this.#tagged.has(key)) {
          const { repo, tag } = splitRef(opts.image);
          await this.#docker
            .getImage(rootId)
            .tag({ repo, tag })
            .catch((err: unknown) => {
              throw backendError(`cannot tag image ${rootId} as ${opts.image}`, err);
            });
          this.#tagged.add(key);
        }
      }
    }
    if (id === undefined) {
      const found = archives.flatMap((a) => a.images.flatMap((i) => (i.repoTags.length ? i.repoTags : [i.id])));
      throw new DriverError(
        'IMAGE',
        `options.image "${opts.image}" is not in options.images (they contain: ${found.join(', ') || 'nothing'})`,
        {
          field: 'options.image',
        },
      );
    }
    return this.#used(await this.#inspect(id, false), opts.image, true);
  }

  async #inspect(ref: string, fromDefinition: boolean): Promise<ResolvedImage> {
    const known = this.#inspected.get(ref);
    if (known) return known;
    try {
      const info = await this.#docker.getImage(ref).inspect();
      const cfg = info.Config;
      const resolved: ResolvedImage = {
        id: info.Id,
        hasCommand: Boolean(cfg?.Cmd?.length || cfg?.Entrypoint?.length),
        env: cfg?.Env ?? [],
      };
      this.#inspected.set(ref, resolved);
      return resolved;
    } catch (err) {
      if (isNotFound(err)) {
        throw new DriverError(
          'IMAGE',
          fromDefinition
            ? `image "${ref}" is not on this node (an image id cannot be pulled: give options.image as name:tag or name@sha256:<digest>)`
            : `image ${ref} disappeared from the daemon`,
          { field: 'options.image', cause: err },
        );
      }
      throw backendError(`cannot inspect image ${ref}`, err);
    }
  }

  /** A registry image: the daemon's copy (pull "missing"), else pulled; a digest is verified. */
  async #fromRegistry(
    opts: DockerOptions,
    signal: AbortSignal | undefined,
    progress: ((note: string) => void) | undefined,
  ): Promise<ResolvedImage> {
    const ref = parseRegistryRef(opts.image);
    checkRegistryAllowed(this.#registries, ref);
    if (opts.pull === 'missing') {
      const have = await this.#lookup(ref);
      if (have) return this.#used(have, ref.pullRef, false);
    }
    await this.#puller.pull(ref, signal, progress ? (what, p) => progress(`pulling ${what}: ${describeProgress(p)}`) : undefined);
    if (signal?.aborted) throw cancelledError('options.image', signal);
    const pulled = await this.#lookup(ref);
    if (!pulled)
      throw new DriverError('IMAGE', `the pull of ${ref.pullRef} finished but the daemon has no such image`, { field: 'options.image' });
    return this.#used(pulled, ref.pullRef, true);
  }

  /** The daemon's image for a registry reference (undefined when it has none); a pinned digest must be among its RepoDigests. */
  async #lookup(ref: RegistryRef): Promise<ResolvedImage | undefined> {
    let info: Docker.ImageInspectInfo;
    try {
      info = await this.#docker.getImage(ref.pullRef).inspect();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw backendError(`cannot inspect image ${ref.pullRef}`, err);
    }
    if (ref.digest && !(info.RepoDigests ?? []).includes(`${ref.repository}@${ref.digest}`)) {
      throw new DriverError(
        'IMAGE',
        `image ${info.Id} found for ${ref.pullRef} does not carry that digest (it has ${(info.RepoDigests ?? []).join(', ') || 'none'})`,
        { field: 'options.image' },
      );
    }
    const cfg = info.Config;
    return { id: info.Id, hasCommand: Boolean(cfg?.Cmd?.length || cfg?.Entrypoint?.length), env: cfg?.Env ?? [] };
  }

  async #archive(ref: ImageRef, field: string, signal: AbortSignal | undefined): Promise<ArchiveImages> {
    const known = this.#loaded.get(ref.sum);
    if (known) return known;
    const loaded = await this.#archives.run(ref.sum, (s) => this.#ensureArchive(ref, field, s), signal);
    this.#loaded.set(ref.sum, loaded);
    return loaded;
  }

  async #exists(ref: string): Promise<boolean> {
    try {
      await this.#docker.getImage(ref).inspect();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw backendError(`cannot inspect image ${ref}`, err);
    }
  }

  async #index(ref: ImageRef, field: string, signal: AbortSignal): Promise<TarIndex> {
    const sidecar = `${this.#cache.pathFor(ref.sum)}.index.json`;
    try {
      return JSON.parse(await readFile(sidecar, 'utf8')) as TarIndex;
    } catch {
      // not indexed yet
    }
    const file = await this.#cache.fetch(ref, { decompress: true, field, signal });
    let index: TarIndex;
    try {
      index = await indexTar(file);
    } catch (err) {
      throw new DriverError('IMAGE', `image ${ref.sum} is not a tar archive (docker save or rootfs): ${(err as Error).message}`, {
        cause: err,
      });
    }
    const tmp = `${sidecar}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(index));
    await rename(tmp, sidecar);
    return index;
  }

  async #ensureArchive(ref: ImageRef, field: string, signal: AbortSignal): Promise<ArchiveImages> {
    const marker = `${ARCHIVE_REPO}:${archiveTag(ref.sum)}`;
    // a rootfs tarball imported before carries the marker tag: nothing to fetch
    try {
      const info = await this.#docker.getImage(marker).inspect();
      return { kind: 'rootfs', images: [{ id: info.Id, repoTags: [] }] };
    } catch (err) {
      if (!isNotFound(err)) throw backendError(`cannot inspect image ${marker}`, err);
    }
    const index = await this.#index(ref, field, signal);
    if (index.kind === 'save') {
      const present = await Promise.all(index.images.map((i) => this.#exists(i.id)));
      if (present.every(Boolean)) return { kind: 'save', images: index.images };
      const file = await this.#cache.fetch(ref, { decompress: true, field, signal });
      signal.throwIfAborted();
      const started = Date.now();
      try {
        await readProgress(this.#docker, await this.#docker.loadImage(file, { quiet: true }));
      } catch (err) {
        throw new DriverError('IMAGE', `docker load of image ${ref.sum} failed: ${(err as Error).message}`, { cause: err });
      }
      for (const img of index.images) {
        if (!(await this.#exists(img.id))) throw new DriverError('IMAGE', `docker load of image ${ref.sum} did not create image ${img.id}`);
      }
      this.#log.info(
        { sum: ref.sum, images: index.images.map((i) => i.repoTags).flat(), ms: Date.now() - started },
        'image archive loaded',
      );
      // the daemon holds the image now: no compressed or unpacked copy is kept beside it
      await this.#cache.discard(ref.sum);
      return { kind: 'save', images: index.images };
    }
    const file = await this.#cache.fetch(ref, { decompress: true, field, signal });
    signal.throwIfAborted();
    const started = Date.now();
    try {
      await readProgress(this.#docker, await this.#docker.importImage(file, { repo: ARCHIVE_REPO, tag: archiveTag(ref.sum) }));
    } catch (err) {
      throw new DriverError('IMAGE', `docker import of image ${ref.sum} failed: ${(err as Error).message}`, { cause: err });
    }
    const info = await this.#docker
      .getImage(marker)
      .inspect()
      .catch((err: unknown) => {
        throw new DriverError('IMAGE', `docker import of image ${ref.sum} did not create ${marker}`, { cause: err });
      });
    this.#log.info({ sum: ref.sum, id: info.Id, ms: Date.now() - started }, 'rootfs tarball imported');
    await this.#cache.discard(ref.sum);
    return { kind: 'rootfs', images: [{ id: info.Id, repoTags: [] }] };
  }
}
