/**
 * Where the driver keeps things under its data dir:
 *
 *   images/                      image cache (ImageCache, by checksum; base images, never written)
 *   state/<mac id>.json          one state file per VM (state.ts)
 *   vms/<mac id>/                overlays, non-reused disks, console.log, qemu.pid
 *   reuse/<label>/…              reused disks (disks.ts ReusePool)
 *   snapshots/<snapshot id>/     snapshot.json + disk copies (+ root.qcow2, memory.state when full)
 *   run/<mac id>.qmp             QMP unix sockets (or /tmp/shoal-qemu-<tag>/ when the path is too long)
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { macHex } from '../shared/mac.js';

/** Linux unix socket paths are limited to 107 bytes; keep a margin. */
const MAX_SOCKET_PATH = 100;
const PLAIN = /^\/[A-Za-z0-9/._+-]+$/;

export class DriverPaths {
  readonly dataDir: string;
  readonly imageDir: string;
  readonly stateDir: string;
  readonly vmsDir: string;
  readonly reuseDir: string;
  readonly snapshotDir: string;
  readonly socketDir: string;
  /** identifies this driver instance's processes: sha256(dataDir), 12 hex */
  readonly tag: string;

  constructor(dataDir: string, imageDir: string, socketDir: string | undefined) {
    this.dataDir = dataDir;
    this.imageDir = imageDir;
    this.stateDir = join(dataDir, 'state');
    this.vmsDir = join(dataDir, 'vms');
    this.reuseDir = join(dataDir, 'reuse');
    this.snapshotDir = join(dataDir, 'snapshots');
    this.tag = createHash('sha256').update(dataDir).digest('hex').slice(0, 12);
    const preferred = join(dataDir, 'run');
    const fits = (dir: string): boolean => PLAIN.test(dir) && join(dir, '000000000000.qmp').length <= MAX_SOCKET_PATH;
    this.socketDir = socketDir ?? (fits(preferred) ? preferred : `/tmp/shoal-qemu-${this.tag}`);
    if (!fits(this.socketDir)) {
      throw new Error(`socket dir ${this.socketDir} is too long for unix sockets or has unusual characters`);
    }
  }

  /** the -name marker of a VM's QEMU process */
  marker(hwaddr: string): string {
    return `${this.markerPrefix()}${macHex(hwaddr)}`;
  }

  markerPrefix(): string {
    return `shoal/${this.tag}/`;
  }

  vmDir(hwaddr: string): string {
    return join(this.vmsDir, macHex(hwaddr));
  }

  qmpSocket(hwaddr: string): string {
    return join(this.socketDir, `${macHex(hwaddr)}.qmp`);
  }
}
