import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { listMounts } from '../shared/mounts.js';
import { execIn, resourceTraces } from './test-helpers/harness.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

const T = { timeout: 300_000 };

async function sh(s: Suite, container: string, script: string, timeoutMs = 120_000): Promise<{ code: number; out: string }> {
  return execIn(s.h.docker, container, ['sh', '-c', script], timeoutMs);
}

/** file system type and size (1K blocks) of a mount point inside the container */
async function df(s: Suite, container: string, path: string): Promise<{ fs: string; kb: number }> {
  const mounts = await sh(s, container, `grep ' ${path} ' /proc/mounts`);
  const fs = mounts.out.trim().split(/\s+/)[2] ?? '';
  const out = await sh(s, container, `df -k ${path} | tail -1`);
  return { fs, kb: Number(out.out.trim().split(/\s+/)[1]) };
}

describe('docker driver: disks', { timeout: 1_200_000 }, () => {
  let s: Suite;

  before(async () => {
    s = await createSuite('dsk');
  }, T);

  after(async () => {
    await s?.destroy();
  }, T);

  it('mounts ext4, xfs and dir disks at /mnt/<label>; ext4 size is enforced (dd beyond it fails)', T, async () => {
    const r = await s.allocate(
      s.basic({
        disks: {
          ws: { type: 'ext4', size: 1 },
          x: { type: 'xfs', size: 1, label: 'scratch' },
          d: { type: 'dir', size: 1 },
        },
      }),
    );
    const ws = await df(s, r.container, '/mnt/ws');
    assert.equal(ws.fs, 'ext4');
    assert.ok(ws.kb > 900 * 1024 && ws.kb <= 1024 * 1024, `ext4 disk is ${ws.kb} KiB`);
    const x = await df(s, r.container, '/mnt/scratch');
    assert.equal(x.fs, 'xfs');
    assert.ok(x.kb > 900 * 1024 && x.kb <= 1024 * 1024, `xfs disk is ${x.kb} KiB`);
    // writing more than the disk holds fails with ENOSPC
    const dd = await sh(s, r.container, 'dd if=/dev/zero of=/mnt/ws/fill bs=1M count=1100 2>&1; echo "rc=$?"');
    assert.match(dd.out, /No space left on device/);
    assert.match(dd.out, /rc=[1-9]/);
    // the dir disk is a host folder under the workspace
    const token = randomBytes(8).toString('hex');
    assert.equal((await sh(s, r.container, `echo ${token} > /mnt/d/token && whoami > /dev/null`)).code, 0);
    const hostFile = join(s.h.dataDir, 'workspaces/res', r.hwaddr.replace(/:/g, ''), 'disks/d/data/token');
    assert.equal(readFileSync(hostFile, 'utf8').trim(), token);
    // the sparse image really is size-limited on the host too
    const mounts = (await listMounts()).filter((m) => m.mountPoint.startsWith(s.h.dataDir));
    assert.deepEqual(mounts.map((m) => m.fsType).sort(), ['ext4', 'xfs']);
    await s.deallocate(r.hwaddr);
    assert.deepEqual(await resourceTraces(s.h), []);
  });

  it('reuse: data survives to the next allocation; never attached to two containers at once', T, async () => {
    const label = `${s.h.prefix}-reuse`;
    const def = s.basic({ disks: { cache: { type: 'ext4', size: 1, reuse: true }, keep: { type: 'dir', size: 1, reuse: true } } });
    const token = randomBytes(8).toString('hex');
    const a = await s.allocate(def, {}, s.context(label));
    assert.equal((await sh(s, a.container, `echo ${token} > /mnt/cache/t && echo ${token} > /mnt/keep/t`)).code, 0);
    const before = await s.driver.listResources();
    await assert.rejects(s.driver.allocate(def, {}, s.context(label)), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'NO_CAPACITY');
      assert.match(err.message, /in use/);
      return true;
    });
    assert.deepEqual((await s.driver.listResources()).sort(), before.sort(), 'the refused allocation left something');
    // another label does not share the disk
    const other = await s.allocate(def, {}, s.context(`${label}-other`));
    assert.equal((await sh(s, other.container, 'cat /mnt/cache/t')).code, 1);
    await s.deallocate(other.hwaddr);
    await s.deallocate(a.hwaddr);
    assert.deepEqual(await resourceTraces(s.h), [], 'a reused disk is unmounted and unlocked after deallocate');
    const b = await s.allocate(def, {}, s.context(label));
    assert.equal((await sh(s, b.container, 'cat /mnt/cache/t /mnt/keep/t')).out, `${token}\n${token}\n`);
    await s.deallocate(b.hwaddr);
    assert.deepEqual(await resourceTraces(s.h), []);
  });

  it('snapshot: full commits an image without metadata and copies disks; clone and the image start from them', T, async () => {
    const secret = `S3CR3T-${randomBytes(6).toString('hex')}`;
    const r = await s.allocate(s.basic({ disks: { ws: { type: 'ext4', size: 1 }, d: { type: 'dir', size: 1 } } }), { TOKEN: secret });
    const data = randomBytes(8).toString('hex');
    assert.equal(
      (await sh(s, r.container, `echo ${data} > /mnt/ws/data && echo ${data} > /mnt/d/data && echo ${data} > /root/in-rootfs`)).code,
      0,
    );

    const disksOnly = JSON.parse(await s.driver.snapshot(r.hwaddr, false)) as { id: string; image: string; disks: Record<string, string> };
    assert.equal(disksOnly.image, '');
    assert.deepEqual(Object.keys(disksOnly.disks).sort(), ['d', 'ws']);

    const full = JSON.parse(await s.driver.snapshot(r.hwaddr, true)) as {
      id: string;
      image: string;
      disks: Record<string, string>;
      paths: Record<string, string>;
    };
    assert.ok(full.image.startsWith('shoal-snapshot:'), full.image);
    s.images.push(full.image);
    assert.ok(existsSync(full.paths.ws!), 'the disk copy exists where the info says');
    const img = await s.h.docker.getImage(full.image).inspect();
    assert.ok(!JSON.stringify(img.Config).includes(secret), 'metadata leaked into the snapshot image');
    assert.equal(img.Config.Labels?.['shoal.resource'], '');
    assert.equal(await s.driver.status(r.hwaddr), 'ALLOCATED', 'the container runs on after a snapshot');
    await s.deallocate(r.hwaddr);

    // the image as a label image (no archives), disks cloned (ext4 grown to 2 GB)
    const def = s.def(
      { image: full.image, command: ['sleep', '3600'] },
      { disks: { ws: { type: 'ext4', size: 2, clone: full.disks.ws }, d: { type: 'dir', size: 1, clone: disksOnly.disks.d } } },
    );
    await s.driver.validateDefinition(def);
    const c = await s.allocate(def);
    assert.equal((await sh(s, c.container, 'cat /mnt/ws/data /mnt/d/data /root/in-rootfs')).out, `${data}\n${data}\n${data}\n`);
    const ws = await df(s, c.container, '/mnt/ws');
    assert.ok(ws.kb > 1900 * 1024, `the clone was not grown to 2 GB: ${ws.kb} KiB`);
    await s.deallocate(c.hwaddr);
    // the snapshot is still there for the next clone
    assert.ok(existsSync(full.paths.ws!));
    // a clone from a missing snapshot or of the wrong type is refused, leaving nothing
    for (const [clone, type, msg] of [
      ['s-nosuch-0000/ws', 'ext4', /has no disk/],
      [full.disks.ws, 'xfs', /is ext4, this disk is xfs/],
    ] as const) {
      await assert.rejects(
        s.driver.allocate(s.basic({ disks: { ws: { type, size: 1, clone } } }), {}, s.context()),
        (e: unknown) => e instanceof DriverError && e.code === 'INVALID_DEFINITION' && msg.test(e.message),
      );
    }
    assert.deepEqual(await resourceTraces(s.h), []);
    assert.deepEqual(readdirSync(join(s.h.dataDir, 'snapshots')).sort(), [disksOnly.id, full.id].sort());
  });
});
