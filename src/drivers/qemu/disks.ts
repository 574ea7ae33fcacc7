/**
 * Disk files: overlays on read-only base images (so a clone costs the same for 100 MB and 20 GB),
 * blank qcow2/raw disks, ext4 disks formatted on the host, clones from snapshots, and the pool of
 * reused disks (kept per label + disk name, never attached to two VMs at once).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DriverError } from '../../contract/index.js';
import type { DiskRequest, PromisedFile } from '../shared/disk-space.js';
import type { QemuDefinition } from './definition.js';
import { run } from '../shared/exec.js';
import type { StateStore } from './state.js';

export const GIB = 2 ** 30;

export interface ImageInfo {
  format: string;
  virtualSize: number;
  backing: string | undefined;
  /** a qcow2 external data file, if any */
  dataFile: string | undefined;
}

/**
 * `qemu-img info` of a file (`-U`: also while a VM holds it). Give `format` whenever it is known:
 * probing a file whose content a guest wrote (a raw disk) could be fooled by a forged header.
 */
export async function imageInfo(qemuImg: string, path: string, format?: 'qcow2' | 'raw'): Promise<ImageInfo> {
  const args = ['info', '-U', '--output=json', ...(format ? ['-f', format] : []), path];
  const r = await run(qemuImg, args, { timeoutMs: 60_000 });
  const j = JSON.parse(r.stdout) as {
    format: string;
    'virtual-size': number;
    'full-backing-filename'?: string;
    'backing-filename'?: string;
    'format-specific'?: { data?: { 'data-file'?: string } };
  };
  return {
    format: j.format,
    virtualSize: j['virtual-size'],
    backing: j['full-backing-filename'] ?? j['backing-filename'],
    dataFile: j['format-specific']?.data?.['data-file'],
  };
}

/** A qcow2 overlay on `base` (never written): instant whatever the base's size. */
export async function createOverlay(qemuImg: string, base: string, baseFormat: 'qcow2' | 'raw', overlay: string): Promise<void> {
  await run(qemuImg, ['create', '-q', '-f', 'qcow2', '-b', base, '-F', baseFormat, overlay], { timeoutMs: 60_000 });
}

/** A blank disk of `sizeGb` GiB: qcow2 (grows on use) or sparse raw. */
export async function createBlank(qemuImg: string, path: string, format: 'qcow2' | 'raw', sizeGb: number): Promise<void> {
  if (format === 'raw') {
    await writeFile(path, '', { flag: 'wx', mode: 0o600 });
    await truncate(path, sizeGb * GIB);
    return;
  }
  await run(qemuImg, ['create', '-q', '-f', 'qcow2', path, String(sizeGb * GIB)], { timeoutMs: 60_000 });
}

/**
 * An ext4 disk: a sparse raw file formatted on the host, so the guest finds a filesystem on it.
 * `fsLabel` becomes the filesystem label (ext4 allows 16 bytes).
 */
export async function createExt4(mkfs: string, path: string, sizeGb: number, fsLabel: string): Promise<void> {
  await writeFile(path, '', { flag: 'wx', mode: 0o600 });
  await truncate(path, sizeGb * GIB);
  await run(mkfs, ['-q', '-F', '-L', fsLabel.slice(0, 16), '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-m', '0', path], {
    timeoutMs: 300_000,
  });
}

/**
 * A disk made from a snapshot disk (a full copy: the snapshot stays independent of the VM), in
 * `format`, grown to `sizeGb` when the copy is smaller (its filesystem is not grown).
 */
export async function cloneDisk(qemuImg: string, source: string, target: string, format: 'qcow2' | 'raw', sizeGb: number): Promise<void> {
  await run(qemuImg, ['convert', '-q', '-f', 'qcow2', '-O', format, source, target], { timeoutMs: 3_600_000 });
  const info = await imageInfo(qemuImg, target, format);
  if (info.virtualSize < sizeGb * GIB) {
    await run(qemuImg, ['resize', '-q', '-f', format, target, String(sizeGb * GIB)], { timeoutMs: 60_000 });
  }
}

/**
 * A standalone qcow2 copy of a disk or overlay chain (`-U`: the VM may hold it; pause it first).
 * The source format is always given, never probed (a guest can write any header onto a raw disk).
 */
export async function copyToQcow2(qemuImg: string, source: string, sourceFormat: 'qcow2' | 'raw', target: string): Promise<void> {
  await run(qemuImg, ['convert', '-q', '-U', '-f', sourceFormat, '-O', 'qcow2', source, target], { timeoutMs: 3_600_000 });
}

/** The format a file is opened with for a disk type. */
export function formatFor(type: string): 'qcow2' | 'raw' {
  return type === 'qcow2' ? 'qcow2' : 'raw';
}

/** sha256 of a file as "sha256:<hex>", streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/**
 * A file-name-safe, collision-free folder name for a label of an owner ("" = no owner given: the
 * label name alone, as before label names were owned).
 */
export function labelFolder(label: string, owner = ''): string {
  const safe = (t: string): string => t.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 48) || '_';
  if (owner === '') return `${safe(label)}-${createHash('sha256').update(label).digest('hex').slice(0, 8)}`;
  return `${safe(owner)}.${safe(label)}-${createHash('sha256').update(`${owner}\0${label}`).digest('hex').slice(0, 12)}`;
}

/** Whose reused disks: the label's owner and name. */
export interface ReuseKey {
  owner: string;
  label: string;
}

/** Disk files of every VM state (live or being created), at their full size; image overlays are not counted. */
export async function liveDiskFiles(states: StateStore): Promise<PromisedFile[]> {
  const out: PromisedFile[] = [];
  for (const hwaddr of await states.list()) {
    const s = await states.read(hwaddr).catch(() => undefined);
    for (const d of s?.disks ?? []) if (d.size > 0) out.push({ path: d.path, bytes: d.size * GIB });
  }
  return out;
}

/**
 * The pool of reused disks: `<dir>/<owner.label folder>/<disk name>.<type>.<slot>.<format>`. A
 * disk is reused by the next allocation of the same label of the same owner; when every slot is
 * attached to a live VM a new slot is made (two VMs never share one disk).
 */
export class ReusePool {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /**
   * Pick the lowest free slot for label + disk (a path no live VM uses); `fresh` = no file yet.
   * Callers must hold the pool lock from pick until the VM's state names the path.
   */
  async pick(key: ReuseKey, name: string, type: string, inUse: ReadonlySet<string>): Promise<{ path: string; fresh: boolean }> {
    const { label } = key;
    const folder = join(this.dir, labelFolder(label, key.owner));
    await mkdir(folder, { recursive: true });
    const format = formatFor(type);
    const existing = new Set(await readdir(folder));
    for (let slot = 0; slot < 10_000; slot++) {
      const file = `${name}.${type}.${slot}.${format}`;
      const path = join(folder, file);
      if (inUse.has(path)) continue;
      return { path, fresh: !existing.has(file) };
    }
    throw new DriverError('NO_CAPACITY', `reused disk ${name} of label ${label}: no free slot`);
  }

  /** Remove every reused disk of a label (operator clean-up). */
  async removeLabel(key: ReuseKey): Promise<void> {
    await rm(join(this.dir, labelFolder(key.label, key.owner)), { recursive: true, force: true });
  }
}

/**
 * What each data disk of a definition needs on its file system: its size (fresh, cloned), or the
 * growth of a reused disk that exists already (`reused`: the slots picked; `qemuImg` reads a
 * qcow2's virtual size). Without `reused` every disk counts at its full size (validation).
 */
export async function diskRequests(
  def: QemuDefinition,
  vmDir: string,
  reuseDir: string,
  reused?: ReadonlyMap<string, { path: string; fresh: boolean }>,
  qemuImg?: string,
): Promise<DiskRequest[]> {
  const out: DiskRequest[] = [];
  for (const [name, disk] of Object.entries(def.requirements.disks)) {
    const wanted = disk.size * GIB;
    let bytes = wanted;
    const slot = reused?.get(name);
    if (slot && !slot.fresh) {
      const format = formatFor(disk.type);
      const have = format === 'raw' || !qemuImg ? (await stat(slot.path)).size : (await imageInfo(qemuImg, slot.path, 'qcow2')).virtualSize;
      bytes = Math.max(0, wanted - have);
    }
    out.push({ name, type: disk.type, sizeGb: disk.size, bytes, dir: disk.reuse ? reuseDir : vmDir });
  }
  return out;
}
