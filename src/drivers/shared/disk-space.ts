/**
 * Disk requests checked against the file system that will hold them. A driver that creates disk
 * files (sparse files and qcow2 grow later, when the guest writes) asks before creating them:
 *
 *   free = available (statfs) − what live disks may still grow by − in-flight requests − reserve
 *
 * "What live disks may still grow by" is, for every disk file the drivers of this process report,
 * its full size minus the blocks it already uses (those are already missing from `available`).
 * Checks run one at a time in the process and an accepted request is counted until its files
 * exist (release()), so two allocations never both take the same free space.
 */
import { stat, statfs } from 'node:fs/promises';
import { DriverError, invalidConfig, invalidDefinition } from '../../contract/index.js';

const GB = 1024 ** 3;

/** How much of a file system is never promised to disks: a share of its size, or bytes. */
export type DiskReserve = { percent: number } | { bytes: number };

export interface DiskLimits {
  reserve: DiskReserve;
  /** largest single disk a definition may ask for, GB (undefined = the file system decides) */
  maxDiskGb: number | undefined;
}

export const DEFAULT_DISK_RESERVE: DiskReserve = { percent: 5 };

/** `disk_reserve`: "5%", "10GB" / "512MB" / "1TB", or a number of GB. */
export function parseDiskReserve(v: unknown, field = 'disk_reserve'): DiskReserve {
  if (v === undefined || v === null) return DEFAULT_DISK_RESERVE;
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return { bytes: Math.round(v * GB) };
  if (typeof v === 'string') {
    const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (pct) {
      const percent = Number(pct[1]);
      if (percent < 100) return { percent };
    }
    const size = /^\s*(\d+(?:\.\d+)?)\s*(MB|GB|TB)\s*$/i.exec(v);
    if (size) {
      const unit = size[2]!.toUpperCase() === 'MB' ? 1024 ** 2 : size[2]!.toUpperCase() === 'GB' ? GB : 1024 ** 4;
      return { bytes: Math.round(Number(size[1]) * unit) };
    }
  }
  throw invalidConfig(field, `must be a share like "5%" (under 100%) or a size like "10GB" (MB, GB, TB), got ${JSON.stringify(v)}`);
}

/** Reads `disk_reserve` and `max_disk_size` from a driver's config document. */
export function parseDiskLimits(raw: Record<string, unknown>): DiskLimits {
  const max = raw.max_disk_size;
  let maxDiskGb: number | undefined;
  if (max !== undefined && max !== null) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) {
      throw invalidConfig('max_disk_size', `must be a whole number of GB (at least 1), got ${JSON.stringify(max)}`);
    }
    maxDiskGb = max;
  }
  return { reserve: parseDiskReserve(raw.disk_reserve), maxDiskGb };
}

export function formatGb(bytes: number): string {
  const gb = bytes / GB;
  return gb >= 10 || gb === Math.round(gb) ? `${Math.floor(gb)} GB` : `${gb.toFixed(1)} GB`;
}

/** A disk a definition asks for: `bytes` more will be needed in `dir`'s file system. */
export interface DiskRequest {
  /** disk key in requirements.disks */
  name: string;
  type: string;
  /** size asked, GB */
  sizeGb: number;
  /** bytes still to be promised (the size, or the growth of an existing reused disk) */
  bytes: number;
  /** a directory on the file system that will hold it */
  dir: string;
}

/** A disk file a driver keeps; `bytes` = its full size (what it may grow to). */
export interface PromisedFile {
  path: string;
  bytes: number;
}

interface FsFacts {
  dev: number;
  total: number;
  avail: number;
}

async function fsFacts(dir: string): Promise<FsFacts> {
  const [s, st] = await Promise.all([statfs(dir), stat(dir)]);
  return { dev: st.dev, total: s.blocks * s.bsize, avail: s.bavail * s.bsize };
}

function reserveBytes(r: DiskReserve, total: number): number {
  return 'percent' in r ? Math.ceil((total * r.percent) / 100) : r.bytes;
}

/** Every disk-making driver instance of this process (their live disks share file systems). */
const scanners = new Set<() => Promise<PromisedFile[]>>();
/** accepted, not yet materialised requests: dev → bytes */
const inFlight = new Map<number, number>();
let chain: Promise<unknown> = Promise.resolve();

function serially<T>(fn: () => Promise<T>): Promise<T> {
  const run = chain.then(fn, fn);
  chain = run.catch(() => undefined);
  return run;
}

/** Bytes every live disk on file system `dev` may still grow by. */
async function promisedOn(dev: number): Promise<number> {
  let sum = 0;
  const seen = new Set<string>();
  for (const scan of scanners) {
    let files: PromisedFile[];
    try {
      files = await scan();
    } catch {
      continue;
    }
    for (const f of files) {
      if (seen.has(f.path)) continue;
      seen.add(f.path);
      try {
        const st = await stat(f.path);
        if (st.dev !== dev) continue;
        sum += Math.max(0, f.bytes - st.blocks * 512);
      } catch {
        // gone meanwhile
      }
    }
  }
  return sum;
}

/**
 * One driver instance's view: its limits and a scan of its live disk files (registered for the
 * whole process, so docker and qemu on one file system count each other's disks).
 */
export class DiskSpace {
  readonly limits: DiskLimits;
  readonly #scan: () => Promise<PromisedFile[]>;

  constructor(limits: DiskLimits, scan: () => Promise<PromisedFile[]>) {
    this.limits = limits;
    this.#scan = scan;
    scanners.add(scan);
  }

  /** Stop counting this instance's disks (driver closed). */
  close(): void {
    scanners.delete(this.#scan);
  }

  /**
   * For validateDefinition: a disk larger than max_disk_size, or disks that could never fit their
   * file system (larger than its size minus the reserve), are refused as INVALID_DEFINITION.
   */
  async checkDefinition(disks: readonly DiskRequest[]): Promise<void> {
    const { maxDiskGb } = this.limits;
    for (const d of disks) {
      if (maxDiskGb !== undefined && d.sizeGb > maxDiskGb) {
        throw invalidDefinition(
          `requirements.disks.${d.name}.size`,
          `${d.sizeGb} GB is more than this node's largest disk (max_disk_size ${maxDiskGb} GB)`,
        );
      }
    }
    const byFs = new Map<number, { facts: FsFacts; sum: number; dir: string }>();
    for (const d of disks) {
      const facts = await fsFacts(d.dir);
      const e = byFs.get(facts.dev) ?? { facts, sum: 0, dir: d.dir };
      e.sum += d.sizeGb * GB;
      byFs.set(facts.dev, e);
      const usable = facts.total - reserveBytes(this.limits.reserve, facts.total);
      if (e.sum > usable) {
        throw invalidDefinition(
          `requirements.disks.${d.name}.size`,
          `${d.sizeGb} GB can never fit: the file system holding disks (${d.dir}) has ${formatGb(facts.total)} in total, ` +
            `${formatGb(facts.total - usable)} of it kept in reserve${disks.length > 1 ? ', shared by every disk of the definition' : ''}`,
        );
      }
    }
  }

  /**
   * For allocation: accept the requests if they fit what is free, and count them until release()
   * (call it once their files exist, or the allocation failed). Throws NO_CAPACITY naming the
   * disk, the size asked and what is free.
   */
  reserve(requests: readonly DiskRequest[]): Promise<() => void> {
    const wanted = requests.filter((r) => r.bytes > 0);
    if (wanted.length === 0) return Promise.resolve(() => {});
    return serially(async () => {
      const perFs = new Map<number, { facts: FsFacts; reqs: DiskRequest[] }>();
      for (const r of wanted) {
        const facts = await fsFacts(r.dir);
        const e = perFs.get(facts.dev) ?? { facts, reqs: [] };
        e.reqs.push(r);
        perFs.set(facts.dev, e);
      }
      for (const [dev, { facts, reqs }] of perFs) {
        const promised = await promisedOn(dev);
        const pending = inFlight.get(dev) ?? 0;
        const reserve = reserveBytes(this.limits.reserve, facts.total);
        const free = facts.avail - promised - pending - reserve;
        let need = 0;
        for (const r of reqs) {
          need += r.bytes;
          if (need > free) {
            throw new DriverError(
              'NO_CAPACITY',
              `disk "${r.name}" (${r.type}, ${r.sizeGb} GB) does not fit: ${formatGb(Math.max(0, free))} free on the file system of ${r.dir} ` +
                `(${formatGb(facts.avail)} available, ${formatGb(promised + pending)} promised to other disks, ${formatGb(reserve)} kept in reserve)` +
                (need > r.bytes ? `, after ${formatGb(need - r.bytes)} for the definition's other disks` : ''),
            );
          }
        }
      }
      for (const [dev, { reqs }] of perFs) inFlight.set(dev, (inFlight.get(dev) ?? 0) + reqs.reduce((a, r) => a + r.bytes, 0));
      let released = false;
      return () => {
        if (released) return;
        released = true;
        for (const [dev, { reqs }] of perFs) {
          const left = (inFlight.get(dev) ?? 0) - reqs.reduce((a, r) => a + r.bytes, 0);
          if (left > 0) inFlight.set(dev, left);
          else inFlight.delete(dev);
        }
      };
    });
  }
}
