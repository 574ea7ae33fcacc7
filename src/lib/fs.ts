import type { Dirent } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether something exists at `path` (following links); false also when it cannot be looked at. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Bytes the files under `dir` occupy on disk (allocated blocks, so sparse disk images count what
 * they use), without following symbolic links; unreadable entries count 0. Bounded: it stops after
 * `maxEntries` entries (`complete: false`).
 */
export async function diskUsage(dir: string, maxEntries = 1_000_000): Promise<{ bytes: number; complete: boolean }> {
  let bytes = 0;
  let seen = 0;
  const pending = [dir];
  while (pending.length > 0) {
    const d = pending.pop()!;
    let entries: Dirent[];
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (++seen > maxEntries) return { bytes, complete: false };
      const p = join(d, e.name);
      if (e.isDirectory()) pending.push(p);
      else if (e.isFile()) {
        try {
          bytes += (await lstat(p)).blocks * 512;
        } catch {
          // gone meanwhile
        }
      }
    }
  }
  return { bytes, complete: true };
}
