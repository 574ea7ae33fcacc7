/**
 * Image checks before anything is created (no VM boots): a wrong checksum, a tar archive and an
 * image that refers to a host file are refused with IMAGE, and nothing is left behind. And
 * compressed images (xz, zstd, gzip — how cloud images are published) are unpacked once and used as
 * the VM's base (QEMU runs on an overlay over the unpacked disk; no guest needs to boot for that).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError, StatusAllocated } from '../../contract/index.js';
import { QemuDriver } from './driver.js';
import { FakeMeta, removeDir, silentLog, tempDataDir, testContext } from './test-support.js';

const sum = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

describe('qemu driver: images are checked before anything is created', { timeout: 120_000 }, () => {
  let dir: string;
  let driver: QemuDriver;
  const files = { evil: '', disk: '', tar: '', vmdk: '', qcow2: '' };

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
    files.qcow2 = join(src, 'disk.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', files.qcow2, '64M']);
    files.vmdk = join(src, 'disk.vmdk');
    execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', files.vmdk, '16M']);
    driver = new QemuDriver(testContext(join(dir, 'data'), new FakeMeta(), silentLog));
    await driver.prepare('{"accel":"tcg","shutdown_timeout_seconds":1}');
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

  it('runs VMs on compressed images (raw.xz, qcow2.zst, raw.gz): the overlay stands on the unpacked disk', async () => {
    // a raw disk with a recognisable pattern, so the unpacked base can be compared byte for byte
    const pattern = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < pattern.length; i += 4096) pattern.write(`shoal-${i}`, i);
    const raw = join(dir, 'src', 'pattern.raw');
    writeFileSync(raw, pattern);
    execFileSync('xz', ['-k', '-T0', '-q', raw]);
    execFileSync('gzip', ['-k', '-q', raw]);
    execFileSync('zstd', ['-q', '-k', files.qcow2, '-o', `${files.qcow2}.zst`]);
    const cases = [
      { file: `${raw}.xz`, format: 'raw', same: raw },
      { file: `${files.qcow2}.zst`, format: 'qcow2', same: files.qcow2 },
      { file: `${raw}.gz`, format: 'raw', same: raw },
    ];
    for (const c of cases) {
      const r = await driver.allocate(
        JSON.stringify({ options: { images: [{ url: `file://${c.file}`, sum: sum(c.file) }] }, requirements: { cpu: 1, ram: 1 } }),
        {},
      );
      try {
        const state = await driver.stateOf(r.hwaddr);
        const root = state?.disks.find((d) => d.name === 'root');
        assert.ok(root, 'no root overlay');
        const info = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', root.path], { encoding: 'utf8' })) as {
          'backing-filename'?: string;
          'backing-filename-format'?: string;
        };
        assert.equal(info['backing-filename-format'], c.format, c.file);
        const base = info['backing-filename'];
        assert.ok(base, 'the overlay has no base');
        assert.equal(sum(base), sum(c.same), `${c.file}: the base is not the unpacked image`);
        assert.equal(await driver.status(r.hwaddr), StatusAllocated);
      } finally {
        await driver.deallocate(r.hwaddr);
      }
    }
    assert.deepEqual(await driver.listResources(), []);
  });
});
