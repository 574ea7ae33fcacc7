import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, readFileSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import type { FetchPolicy } from '../../../contract/index.js';
import type { ImageRef } from '../../shared/index.js';
import { readProgress } from '../engine.js';

export interface TestImages {
  /** plain rootfs tarball (busybox-static + applet symlinks), for docker import */
  rootfs: ImageRef;
  /** the same, gzip-compressed */
  rootfsGz: ImageRef;
  /** a `docker save` archive of an image tagged `saveTag` (CMD sleep 3600), xz-compressed */
  save: ImageRef;
  saveTag: string;
  /** image ids this fixture created in the daemon (remove them in after()) */
  createdImages: string[];
}

/** The fetch policy of test drivers: the archives the tests build live under the temp dir. */
export const TEST_FETCH: FetchPolicy = { allowFiles: [tmpdir()], allowHosts: [], maxImageBytes: 16 * 2 ** 30 };

export function sha256File(path: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
}

function ref(path: string): ImageRef {
  return { url: pathToFileURL(path).toString(), sum: sha256File(path) };
}

/**
 * Build test image archives from /bin/busybox (package busybox-static): no registry is needed.
 * `prefix` makes tags unique to the test run.
 */
export async function buildTestImages(docker: Docker, dir: string, prefix: string): Promise<TestImages> {
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'mnt', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(root, d), { recursive: true });
  chmodSync(join(root, 'tmp'), 0o1777);
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const a of applets) symlinkSync('busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  // unique per run: two suites building in the same second (tar keeps whole-second mtimes) must not
  // get byte-identical archives, or they would share one daemon image across test files
  writeFileSync(join(root, 'etc/shoal-test-run'), `${prefix}\n`);
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', root, '-cf', tar, '.']);
  const gz = join(dir, 'rootfs.tar.gz');
  writeFileSync(gz, gzipSync(readFileSync(tar)));

  // a `docker save` archive: import the rootfs with a default command, save it, then remove it
  // again so the driver really loads it
  const saveTag = `${prefix}-save:v1`;
  const [repo, tag] = saveTag.split(':') as [string, string];
  await readProgress(docker, await docker.importImage(tar, { repo, tag, changes: 'CMD ["sleep","3600"]' }));
  const saved = join(dir, 'save.tar');
  await pipeline(await docker.getImage(saveTag).get(), createWriteStream(saved));
  const savedId = (await docker.getImage(saveTag).inspect()).Id;
  await docker.getImage(savedId).remove({ force: true });
  execFileSync('xz', ['-z', '-T0', '-0', saved]);
  return { rootfs: ref(tar), rootfsGz: ref(gz), save: ref(`${saved}.xz`), saveTag, createdImages: [savedId] };
}
