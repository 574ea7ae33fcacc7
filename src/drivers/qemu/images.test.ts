/**
 * Image checks before anything is created (no VM boots): a wrong checksum, a tar archive and an
 * image that refers to a host file are refused with IMAGE, and nothing is left behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { QemuDriver } from './driver.js';
import { FakeMeta, removeDir, silentLog, tempDataDir, testContext } from './test-support.js';

const sum = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

describe('qemu driver: images are checked before anything is created', { timeout: 120_000 }, () => {
  let dir: string;
  let driver: QemuDriver;
  const files = { evil: '', disk: '', tar: '', vmdk: '' };

  before(async () => {
    dir = await tempDataDir('img');
    const src = join(dir, 'src');
    execFileSync('mkdir', ['-p', src]);
    files.evil = join(src, 'evil.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', files.evil]);
    files.disk = join(src, 'disk.raw');
    writeFileSync(files.disk, Buffer.alloc(1024 * 1024));
    files.tar = join(src, 'disk.tar');
    execFileSync('tar', ['-C', src, '-cf', files.tar, 'disk.raw']);
    files.vmdk = join(src, 'disk.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', files.vmdk, '16M']);
    driver = new QemuDriver(testContext(join(dir, 'data'), new FakeMeta(), silentLog));
    await driver.prepare('{"accel":"tcg"}');
  });

  after(async () => {
    await driver?.close();
    await removeDir(dir);
  });

  const def = (url: string, s: string): string =>
    JSON.stringify({ options: { images: [{ url, sum: s }] }, requirements: { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 1 } } } });

  async function refused(definition: string, pattern: RegExp): Promise<void> {
    await assert.rejects(driver.allocate(definition, {}), (err: unknown) => {
      assert.ok(err instanceof DriverError, String(err));
      assert.equal(err.code, 'IMAGE', err.message);
      assert.match(err.message, pattern);
      return true;
    });
    const p = driver.paths();
    assert.deepEqual(readdirSync(p.vmsDir), []);
    assert.deepEqual(readdirSync(p.stateDir), []);
    assert.deepEqual(readdirSync(p.socketDir), []);
    assert.deepEqual(await driver.listResources(), []);
  }

  it('refuses an image whose checksum does not match (and never caches it)', async () => {
    await refused(def(`file://${files.disk}`, `sha256:${'1'.repeat(64)}`), /checksum/);
    assert.deepEqual(
      readdirSync(driver.paths().imageDir).filter((f) => !f.startsWith('.')),
      [],
    );
  });

  it('refuses an image that refers to a host file (backing file)', async () => {
    await refused(def(`file://${files.evil}`, sum(files.evil)), /backing file/);
  });

  it('refuses a tar archive and an unsupported format, naming the image', async () => {
    await refused(def(`file://${files.tar}`, sum(files.tar)), /options\.images\[0\].*tar/);
    await refused(def(`file://${files.vmdk}`, sum(files.vmdk)), /options\.images\[0\].*vmdk/);
  });
});
