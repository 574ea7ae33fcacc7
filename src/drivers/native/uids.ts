/**
 * Host uids for sandboxes: each environment runs as a uid of the config's uid_range that no host
 * user has (/etc/passwd) and no other sandbox holds. Claims are files named by uid in a host-wide
 * directory (several driver instances may share a range), created exclusively and holding
 * `<instance tag>/<sandbox id>`; deallocate and restart reconciliation release them.
 */
import { randomInt } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../../contract/index.js';

const CLAIM_DIR = '/run/shoal-native-uids';

/** uids that belong to users of the host (never handed out). */
async function hostUids(): Promise<Set<number>> {
  const out = new Set<number>();
  const text = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const uid = Number(line.split(':')[2]);
    if (line !== '' && Number.isInteger(uid)) out.add(uid);
  }
  return out;
}

export class UidPool {
  readonly #first: number;
  readonly #last: number;
  readonly #tag: string;
  readonly #dir: string;

  constructor(first: number, last: number, tag: string, dir = CLAIM_DIR) {
    this.#first = first;
    this.#last = last;
    this.#tag = tag;
    this.#dir = dir;
  }

  #owner(id: string): string {
    return `${this.#tag}/${id}`;
  }

  /** Claim a free uid for sandbox `id` (a random start, then upwards: no herd on the first uids). */
  async claim(id: string): Promise<number> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const taken = await hostUids();
    const count = this.#last - this.#first + 1;
    const start = randomInt(0, Math.min(count, 2 ** 47));
    for (let i = 0; i < count; i++) {
      const uid = this.#first + ((start + i) % count);
      if (taken.has(uid)) continue;
      try {
        const fh = await open(join(this.#dir, String(uid)), 'wx', 0o600);
        await fh.writeFile(this.#owner(id));
        await fh.close();
        return uid;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new DriverError('NO_CAPACITY', `no free uid left in uid_range ${this.#first}-${this.#last}`);
  }

  /** Release what sandbox `id` holds (idempotent). */
  async release(id: string, uid?: number): Promise<void> {
    if (uid !== undefined) {
      const file = join(this.#dir, String(uid));
      if ((await readFile(file, 'utf8').catch(() => '')) === this.#owner(id)) await rm(file, { force: true });
      return;
    }
    for (const [u, owner] of await this.claims()) if (owner === id) await this.release(id, u);
  }

  /** uid → sandbox id of every claim of this instance. */
  async claims(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const name of await readdir(this.#dir).catch(() => [] as string[])) {
      const owner = await readFile(join(this.#dir, name), 'utf8').catch(() => '');
      if (owner.startsWith(`${this.#tag}/`) && /^\d+$/.test(name)) out.set(Number(name), owner.slice(this.#tag.length + 1));
    }
    return out;
  }

  /** For tests: the claim file of a uid. */
  claimFile(uid: number): string {
    return join(this.#dir, String(uid));
  }
}
