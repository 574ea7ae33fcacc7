/**
 * Snapshots of a running VM. The VM is paused (QMP `stop`, which flushes every disk) while the
 * copies are made and resumed afterwards:
 *   - always: each data disk → `<name>.qcow2` (a standalone qcow2 copy, usable as a disk `clone`);
 *   - full: also each image overlay flattened with its base → `root.qcow2` (`imageN.qcow2`), a
 *     standalone image usable in a label's `options.images` (url + sum in the info), and the memory
 *     and device state → `memory.state` (a QEMU migration stream, written with `migrate`; restore
 *     it with the same command line plus `-incoming "exec:cat memory.state"`).
 * The info (also saved as snapshot.json) says where everything is.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, realpath, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DriverError } from '../../contract/index.js';
import { copyToQcow2, sha256File } from './disks.js';
import { macHex } from '../shared/mac.js';
import { QmpError, type QmpClient } from './qmp-client.js';
import type { VmState } from './state.js';
import { pathExists } from '../../lib/fs.js';

export interface SnapshotFile {
  path: string;
  format: 'qcow2';
}

export interface SnapshotInfo {
  driver: 'qemu';
  id: string;
  hwaddr: string;
  full: boolean;
  created_at: string;
  dir: string;
  /** data disks: `clone` is the value for requirements.disks.<name>.clone */
  disks: Record<string, SnapshotFile & { type: string; size: number; clone: string }>;
  /** full only: flattened image overlays, usable as {url, sum} in options.images */
  images: Record<string, SnapshotFile & { url: string; sum: string }>;
  /** full only: memory + device state */
  memory: { path: string; format: 'qemu-migration-stream'; restore: string } | null;
  /** the VM's command line, to restore the memory state with the same devices */
  argv: string[];
}

const MIGRATION_TIMEOUT_MS = 15 * 60_000;
const SAFE_SHELL_PATH = /^\/[A-Za-z0-9/._+-]+$/;

export function newSnapshotId(hwaddr: string): string {
  const t = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${macHex(hwaddr)}-${t}-${randomBytes(3).toString('hex')}`;
}

async function waitMigration(qmp: QmpClient): Promise<void> {
  const deadline = Date.now() + MIGRATION_TIMEOUT_MS;
  for (;;) {
    const r = await qmp.execute<{ status?: string; 'error-desc'?: string }>('query-migrate');
    if (r.status === 'completed') return;
    if (r.status === 'failed' || r.status === 'cancelled') {
      throw new DriverError('BACKEND', `saving the memory state failed: ${r['error-desc'] ?? r.status}`);
    }
    if (Date.now() > deadline) {
      await qmp.execute('migrate_cancel').catch(() => undefined);
      throw new DriverError('BACKEND', 'saving the memory state took too long');
    }
    await new Promise((res) => setTimeout(res, 100));
  }
}

export async function takeSnapshot(opts: {
  qmp: QmpClient;
  qemuImg: string;
  state: VmState;
  snapshotDir: string;
  full: boolean;
}): Promise<SnapshotInfo> {
  const { qmp, qemuImg, state, full } = opts;
  const id = newSnapshotId(state.hwaddr);
  const dir = join(opts.snapshotDir, id);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const info: SnapshotInfo = {
    driver: 'qemu',
    id,
    hwaddr: state.hwaddr,
    full,
    created_at: new Date().toISOString(),
    dir,
    disks: {},
    images: {},
    memory: null,
    argv: state.argv,
  };
  try {
    const status = await qmp.execute<{ running: boolean; status: string }>('query-status');
    await qmp.execute('stop');
    try {
      if (full) {
        const mem = join(dir, 'memory.state');
        if (!SAFE_SHELL_PATH.test(mem)) throw new DriverError('BACKEND', `snapshot path ${mem} has unusual characters`);
        await qmp.execute('migrate', { uri: `exec:cat > ${mem}` });
        await waitMigration(qmp);
        info.memory = { path: mem, format: 'qemu-migration-stream', restore: `-incoming "exec:cat ${mem}"` };
      }
      for (const d of state.disks) {
        const target = join(dir, `${d.name}.qcow2`);
        if (d.type === 'image') {
          if (!full) continue;
          await copyToQcow2(qemuImg, d.path, d.format, target);
          info.images[d.name] = { path: target, format: 'qcow2', url: pathToFileURL(target).toString(), sum: await sha256File(target) };
        } else {
          await copyToQcow2(qemuImg, d.path, d.format, target);
          info.disks[d.name] = { path: target, format: 'qcow2', type: d.type, size: d.size, clone: `${id}/${d.name}` };
        }
      }
    } finally {
      if (status.running) {
        await qmp.execute('cont').catch((err: unknown) => {
          throw err instanceof QmpError
            ? new DriverError('BACKEND', `the VM could not be resumed after the snapshot: ${err.message}`)
            : err;
        });
      }
    }
    await writeFile(join(dir, 'snapshot.json'), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
    return info;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    if (err instanceof QmpError) throw new DriverError('BACKEND', `snapshot of ${state.hwaddr}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * The file a disk `clone` value names: "<snapshot id>/<disk name>" or an absolute path, which must
 * lie inside this driver's snapshot dir (a label cannot copy arbitrary host files into a VM).
 * Undefined when there is no such snapshot disk.
 */
export async function resolveClone(snapshotDir: string, clone: string): Promise<string | undefined> {
  const candidate = isAbsolute(clone) ? clone : join(snapshotDir, `${clone}.qcow2`);
  if (!(await pathExists(candidate))) return undefined;
  const [real, root] = await Promise.all([realpath(candidate), realpath(snapshotDir).catch(() => snapshotDir)]);
  const rel = relative(root, real);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).length !== 2 || !real.endsWith('.qcow2')) return undefined;
  return real;
}
