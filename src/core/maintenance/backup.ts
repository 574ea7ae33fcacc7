import { randomBytes } from 'node:crypto';
import { open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../store/store.js';

/**
 * A consistent copy of the live SQLite database (the online backup API, while the node keeps
 * serving) in a file of its own, 0600 since it holds token hashes: in the data dir (same file
 * system as the database, so there is room for it) or the system's temp dir. Removed again if
 * the copy fails; the caller removes it once it has sent it.
 */
export async function takeBackup(
  store: Store,
  dataDir: string | undefined,
): Promise<{ path: string; bytes: number; remove(): Promise<void> }> {
  const path = join(dataDir ?? tmpdir(), `.backup-${randomBytes(8).toString('hex')}.db`);
  const remove = () => rm(path, { force: true });
  try {
    await (await open(path, 'wx', 0o600)).close();
    await store.backup(path);
    return { path, bytes: (await stat(path)).size, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
