/** Native disks from outside: the size is enforced by the kernel, reuse keeps data, a snapshot is a tar (zstd) a clone starts from. */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { run } from '../shared/exec.js';
import { listMounts } from '../shared/mounts.js';
import type { NativeDriver } from './driver.js';
import { nativeDefinition, testDriver, waitForText } from './test-support.js';

const T = { timeout: 120_000 };
const ctx = (application: string) => ({ application, label: 'disks', labelOwner: 'alice', node: 'n' });

describe('native driver: disks', { timeout: 600_000 }, () => {
  let driver: NativeDriver;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({ driver, cleanup } = await testDriver('disks'));
  }, T);
  after(async () => cleanup?.(), T);

  it('a 1 GB dir disk holds 1 GB at most (writing more fails inside), owned by the sandbox uid', T, async () => {
    const script =
      'dd if=/dev/zero of=/mnt/ws/big bs=1M count=1300 2>/dev/null; echo "dd=$?"; echo "owner=$(stat -c %u /mnt/ws)"; exec sleep 600';
    const r = await driver.allocate(
      nativeDefinition({ command: ['/bin/sh', '-c', script] }, { disks: { ws: { type: 'dir', size: 1 } } }),
      {},
      ctx('d1'),
    );
    const m = await waitForText(() => driver.console(r.hwaddr), /dd=(\d+)\nowner=(\d+)/, 60_000, 'dd ended');
    assert.notEqual(m[1], '0', 'writing beyond 1 GB must fail');
    const state = (await driver.stateOf(r.hwaddr))!;
    assert.equal(m[2], String(state.uid));
    const disk = state.disks[0]!;
    assert.ok(statSync(`${disk.mnt}/big`).size < 1024 ** 3, 'the file stopped below 1 GB');
    assert.ok(
      (await listMounts()).some((x) => x.mountPoint === disk.mnt && x.fsType === 'ext4'),
      'loop-mounted ext4 on the host',
    );
    await driver.deallocate(r.hwaddr);
    assert.equal(existsSync(disk.image), false, 'the image is removed');
    assert.ok(!(await listMounts()).some((x) => x.mountPoint === disk.mnt), 'unmounted');
    assert.doesNotMatch((await run('losetup', ['-j', disk.image])).stdout, /loop/, 'no loop device left');
  });

  it('reuse: the next sandbox (another uid) gets the same data, owned by it; snapshot → tar.zst → clone', T, async () => {
    const disks = { cache: { type: 'ext4', size: 1, reuse: true } };
    const first = await driver.allocate(
      nativeDefinition({ command: ['/bin/sh', '-c', 'echo kept > /mnt/cache/f; echo wrote; exec sleep 600'] }, { disks }),
      {},
      ctx('r1'),
    );
    await waitForText(() => driver.console(first.hwaddr), /wrote/, 30_000, 'first wrote');
    // the reused disk is never attached twice at once
    await assert.rejects(driver.allocate(nativeDefinition({}, { disks }), {}, ctx('r1b')), /in use/);
    await driver.deallocate(first.hwaddr);

    const second = await driver.allocate(
      nativeDefinition(
        {
          command: [
            '/bin/sh',
            '-c',
            'echo "got=$(cat /mnt/cache/f) owner=$(stat -c %u /mnt/cache/f)"; echo more > /mnt/cache/g; exec sleep 600',
          ],
        },
        { disks },
      ),
      {},
      ctx('r2'),
    );
    const m = await waitForText(() => driver.console(second.hwaddr), /got=(\w*) owner=(\d+)/, 30_000, 'second read');
    assert.equal(m[1], 'kept');
    assert.equal(m[2], String((await driver.stateOf(second.hwaddr))!.uid));

    const info = JSON.parse(await driver.snapshot(second.hwaddr, false)) as { disks: Record<string, { path: string; clone: string }> };
    const snap = info.disks.cache!;
    assert.match(snap.path, /\.tar\.zst$/);
    const listing = await run('tar', ['--zstd', '-t', '-f', snap.path]);
    assert.match(listing.stdout, /\.\/f\n/);
    assert.match(listing.stdout, /\.\/g\n/);
    await driver.deallocate(second.hwaddr);

    const clone = await driver.allocate(
      nativeDefinition(
        { command: ['/bin/sh', '-c', 'echo "cloned=$(cat /mnt/ws/f)$(cat /mnt/ws/g) owner=$(stat -c %u /mnt/ws/g)"; exec sleep 600'] },
        {
          disks: { ws: { type: 'dir', size: 1, clone: snap.clone } },
        },
      ),
      {},
      ctx('c1'),
    );
    const c = await waitForText(() => driver.console(clone.hwaddr), /cloned=(\w*) owner=(\d+)/, 30_000, 'clone read');
    assert.equal(c[1], 'keptmore');
    assert.equal(c[2], String((await driver.stateOf(clone.hwaddr))!.uid));
    await driver.deallocate(clone.hwaddr);
    await assert.rejects(
      driver.allocate(nativeDefinition({}, { disks: { ws: { type: 'dir', size: 1, clone: 's-nope/ws' } } }), {}, ctx('c2')),
      /requirements\.disks\.ws\.clone/,
    );
  });
});
