import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Mutex } from '../../lib/locks.js';

/** One image the driver put into the daemon (loaded, imported or pulled). */
export interface ImageRecord {
  /** image id, "sha256:…" */
  id: string;
  /** how labels named it: references, archive checksums */
  refs: string[];
  /** the daemon's Size of the image */
  bytes: number;
  /** ISO time an allocation last used it */
  lastUsed: string;
}

/**
 * The docker driver's own list of the images it put into the daemon (`<images_dir>/daemon-images.json`):
 * only these are listed to admins, counted against image_cache_max_gb and evicted — an image the
 * daemon had before (or someone else pulled) is never touched. Kept in memory, written atomically
 * after each change (one write at a time, off the allocation's path).
 */
export class ImageRecords {
  readonly #file: string;
  readonly #dir: string;
  readonly #write = new Mutex();
  #records: Map<string, ImageRecord> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
    this.#file = join(dir, 'daemon-images.json');
  }

  async #load(): Promise<Map<string, ImageRecord>> {
    if (this.#records) return this.#records;
    let list: ImageRecord[] = [];
    try {
      list = JSON.parse(await readFile(this.#file, 'utf8')) as ImageRecord[];
    } catch {
      // none yet (or unreadable: start afresh; the daemon's images stay, they are just not managed)
    }
    this.#records ??= new Map(list.map((r) => [r.id, r]));
    return this.#records;
  }

  async #save(): Promise<void> {
    const records = await this.#load();
    await this.#write.runExclusive(async () => {
      await mkdir(this.#dir, { recursive: true, mode: 0o700 });
      const tmp = `${this.#file}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify([...records.values()]), { mode: 0o600 });
      await rename(tmp, this.#file);
    });
  }

  async list(): Promise<ImageRecord[]> {
    return [...(await this.#load()).values()];
  }

  async get(id: string): Promise<ImageRecord | undefined> {
    return (await this.#load()).get(id);
  }

  /** Record a use of an image (adding it when new, with its size); resolves once written. */
  async used(id: string, ref: string, bytes: () => Promise<number>): Promise<{ added: boolean }> {
    const records = await this.#load();
    const now = new Date().toISOString();
    const known = records.get(id);
    if (known) {
      known.lastUsed = now;
      if (!known.refs.includes(ref)) known.refs.push(ref);
    } else {
      records.set(id, { id, refs: [ref], bytes: await bytes(), lastUsed: now });
    }
    await this.#save();
    return { added: !known };
  }

  async delete(id: string): Promise<void> {
    if ((await this.#load()).delete(id)) await this.#save();
  }
}
