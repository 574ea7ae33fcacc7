/** Folders and files the sandbox uid must reach, with their modes whatever the node's umask (a node runs with 077). */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** mkdir -p, then give `mode` to `path` and to every folder this call created on the way. */
export async function mkdirWithMode(path: string, mode: number): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode });
  if (first !== undefined) {
    for (let d = path; d.length >= first.length; d = dirname(d)) {
      await chmod(d, mode);
      if (d === first) break;
    }
  }
  await chmod(path, mode);
}

/** writeFile, then chmod (the umask does not narrow it). */
export async function writeFileWithMode(path: string, data: string, mode: number): Promise<void> {
  await writeFile(path, data, { mode });
  await chmod(path, mode);
}
