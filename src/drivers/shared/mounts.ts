import { readFile } from 'node:fs/promises';
import { CommandError, runCommand } from './run-command.js';

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** The mounts of this process's mount namespace (from /proc/self/mountinfo). */
export async function listMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const f = left.split(' ');
    const r = right.split(' ');
    out.push({ mountPoint: unescape(f[4] ?? ''), fsType: r[0] ?? '', source: unescape(r[1] ?? '') });
  }
  return out;
}

/** Mount points at or below `dir`, deepest first (the order to unmount them). */
export async function mountsUnder(dir: string): Promise<MountEntry[]> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  return (await listMounts())
    .filter((m) => m.mountPoint === dir || m.mountPoint.startsWith(prefix))
    .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

export async function isMounted(path: string): Promise<boolean> {
  return (await listMounts()).some((m) => m.mountPoint === path);
}

/** Loop-mount a file system image (the loop device is freed again by umount: autoclear). */
export async function loopMount(image: string, mountPoint: string, fsType: 'ext4' | 'xfs'): Promise<void> {
  const opts = ['loop', 'nodev', 'nosuid', ...(fsType === 'xfs' ? ['nouuid'] : [])];
  await runCommand('mount', ['-t', fsType, '-o', opts.join(','), image, mountPoint], { timeoutMs: 60_000 });
}

/** Unmount; retried while busy, then lazily. Not mounted = success. */
export async function unmount(mountPoint: string): Promise<void> {
  for (let i = 0; i < 5; i++) {
    if (!(await isMounted(mountPoint))) return;
    // a frozen file system would block the unmount forever
    await runCommand('fsfreeze', ['-u', mountPoint], { timeoutMs: 10_000 }).catch(() => undefined);
    try {
      await runCommand('umount', [mountPoint], { timeoutMs: 60_000 });
      return;
    } catch (err) {
      if (!(err instanceof CommandError)) throw err;
      await new Promise((r) => setTimeout(r, 200 * (i + 1)));
    }
  }
  if (await isMounted(mountPoint)) await runCommand('umount', ['-l', mountPoint], { timeoutMs: 60_000 });
}

/** Loop devices backed by `file` (e.g. left by a crash between losetup and mount). */
export async function loopsOf(file: string): Promise<string[]> {
  const { stdout } = await runCommand('losetup', ['-j', file, '-O', 'NAME', '-n'], { timeoutMs: 30_000 });
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('/dev/'));
}

export async function detachLoops(file: string): Promise<void> {
  for (const dev of await loopsOf(file)) {
    await runCommand('losetup', ['-d', dev], { timeoutMs: 30_000 }).catch(() => undefined);
  }
}
