import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * One `shoal serve` per data dir: the embedded database, the driver state and the admin token are
 * not for two processes. The lock is a pid file created exclusively; a stale one (its process is
 * gone, e.g. after SIGKILL) is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, 'shoal.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return async () => {
        const owner = await readFile(path, 'utf8').catch(() => '');
        if (owner.trim() === String(process.pid)) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
        throw new Error(`the data dir ${dataDir} is in use by another shoal serve (pid ${pid}); stop it or choose another --data-dir`);
      }
      await rm(path, { force: true });
    }
  }
  throw new Error(`cannot lock the data dir ${dataDir} (${path})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
