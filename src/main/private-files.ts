import { chmod, lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

export interface PrivateFilesReport {
  /** paths whose mode was narrowed */
  fixed: string[];
  /** paths that could not be changed (not ours), with the reason */
  failed: Array<{ path: string; reason: string }>;
}

/** How far below DATA_DIR modes are fixed (below DATA_DIR/drivers/<instance>, the drivers decide). */
const MAX_DEPTH = 4;
/** Entries looked at, at most (a huge image cache must not delay the start). */
const MAX_ENTRIES = 20_000;

/**
 * Makes DATA_DIR private to the node's user: directories 0700, files without group/other bits
 * (0600, or 0700 when executable). A data dir written by an older version (0644 database, 0755
 * dirs) is fixed at start. Symlinks are not followed, other file systems (mounted disks of
 * resources) are not entered, and inside DATA_DIR/drivers/<instance> only that directory itself is
 * narrowed: what is below belongs to the driver, which sets its own modes (created under the node's
 * umask 077 unless it says otherwise).
 */
export async function makeDataDirPrivate(dataDir: string): Promise<PrivateFilesReport> {
  const report: PrivateFilesReport = { fixed: [], failed: [] };
  const root = await lstat(dataDir);
  let seen = 0;
  const stack: Array<{ path: string; depth: number }> = [{ path: dataDir, depth: 0 }];
  while (stack.length > 0 && seen < MAX_ENTRIES) {
    const { path, depth } = stack.pop()!;
    seen++;
    let st;
    try {
      st = await lstat(path);
    } catch {
      continue; // removed meanwhile
    }
    if (st.isSymbolicLink() || st.dev !== root.dev) continue;
    const want = st.isDirectory() ? 0o700 : st.mode & 0o700;
    if ((st.mode & 0o777) !== want && (st.isDirectory() || st.isFile())) {
      try {
        await chmod(path, want);
        report.fixed.push(path);
      } catch (err) {
        report.failed.push({ path, reason: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
      }
    }
    // below DATA_DIR/drivers/<instance> the driver decides (e.g. a disk shared with a container's user)
    const insideDriver = relative(dataDir, path).split(sep)[0] === 'drivers' && depth >= 2;
    if (st.isDirectory() && depth < MAX_DEPTH && !insideDriver) {
      let names: string[] = [];
      try {
        names = await readdir(path);
      } catch {
        continue;
      }
      for (const n of names) stack.push({ path: join(path, n), depth: depth + 1 });
    }
  }
  return report;
}
