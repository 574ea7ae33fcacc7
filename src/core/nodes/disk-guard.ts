import { statfs } from 'node:fs/promises';

/** What the node watches: the file system holding its data dir (database, driver data). */
export interface DiskWatch {
  /** the data dir */
  path: string;
  /** below this many free bytes the node takes no new work; at twice this it resumes (0 = never) */
  minFreeBytes: number;
}

const MB = 1024 * 1024;
const mb = (n: number): string => `${(n / MB).toFixed(1)} MB`;

/**
 * Watches the free space of the data dir's file system. Below `minFreeBytes` (or when it cannot
 * tell) it reports a reason and the node stops taking new work, keeping its reads and running
 * resources; it clears once twice `minFreeBytes` are free again (no flapping around the mark).
 */
export class DiskGuard {
  readonly #w: DiskWatch;
  #reason: string | null = null;

  constructor(watch: DiskWatch) {
    this.#w = watch;
  }

  /** why no new work is taken now, or null */
  get reason(): string | null {
    return this.#reason;
  }

  /** Re-reads the free space; returns true when the reason changed (set or cleared). */
  async check(): Promise<boolean> {
    const { path, minFreeBytes } = this.#w;
    if (minFreeBytes <= 0) return false;
    let next: string | null;
    try {
      const s = await statfs(path);
      const free = Number(s.bavail) * Number(s.bsize);
      const mark = this.#reason === null ? minFreeBytes : 2 * minFreeBytes;
      next =
        free < mark
          ? `data dir ${path} is (nearly) full: ${mb(free)} free, below min_free_disk ${mb(minFreeBytes)}${this.#reason === null ? '' : ` (resumes at ${mb(2 * minFreeBytes)})`}`
          : null;
    } catch (err) {
      next = `data dir ${path}: cannot read its free space (${(err as Error).message})`;
    }
    const changed = (next === null) !== (this.#reason === null);
    this.#reason = next;
    return changed;
  }
}
