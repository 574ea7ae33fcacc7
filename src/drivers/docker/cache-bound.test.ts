import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

const T = { timeout: 240_000 };
const GB = 1024 ** 3;

async function present(s: Suite, id: string): Promise<boolean> {
  return s.h.docker
    .getImage(id)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

function refusedAs(code: string, pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof DriverError, String(err));
    assert.equal(err.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  };
}

describe('docker driver: a bounded image cache; kept disks and snapshots for admins', { timeout: 900_000 }, () => {
  let s: Suite;
  // each test image is about the size of busybox: two fit under the bound, three do not
  const imageBytes = statSync('/bin/busybox').size;

  before(async () => {
    s = await createSuite('cache', { image_cache_max_gb: (2.5 * imageBytes) / GB });
  }, T);

  after(async () => {
    await s?.destroy();
  }, T);

  it('evicts the least recently used image no container uses; keeps no archive copy beside the daemon image', T, async () => {
    const run = (image: string, ref: object, extra: object = {}): string =>
      s.def({ image, images: [ref], command: ['sleep', '3600'], ...extra });
    const a = await s.allocate(run(`${s.h.prefix}-a:1`, s.imgs.rootfs), {}, s.context());
    const idA = (await s.h.docker.getContainer(a.container).inspect()).Image;
    await s.deallocate(a.hwaddr);
    const b = await s.allocate(run(`${s.h.prefix}-b:1`, s.imgs.rootfsGz), {}, s.context());
    const idB = (await s.h.docker.getContainer(b.container).inspect()).Image;
    assert.notEqual(idA, idB);
    let list = await s.driver.listImages();
    assert.deepEqual(list.map((i) => i.id).sort(), [idA, idB].sort());
    assert.ok(
      list.every((i) => i.bytes > imageBytes / 2 && i.lastUsed !== ''),
      JSON.stringify(list),
    );
    assert.deepEqual(
      list.map((i) => [i.id, i.inUse]).sort(),
      [
        [idA, false],
        [idB, true],
      ].sort(),
    );
    // a third image: over the bound; A is the least recently used and unused, B is in use
    const c = await s.allocate(s.def({ image: s.imgs.saveTag, images: [s.imgs.save] }), {}, s.context());
    const idC = (await s.h.docker.getContainer(c.container).inspect()).Image;
    assert.equal(await present(s, idA), false, 'the least recently used unused image was evicted');
    assert.equal(await present(s, idB), true, 'an image in use is never evicted');
    assert.equal(await present(s, idC), true);
    list = await s.driver.listImages();
    assert.deepEqual(list.map((i) => i.id).sort(), [idB, idC].sort());
    assert.ok(s.h.log.lines.some((l) => l.msg === 'image evicted (image_cache_max_gb)' && (l.obj as { image?: string }).image === idA));
    // the daemon holds the images: no compressed or unpacked archive copy is kept
    const files = readdirSync(join(s.h.dataDir, 'images'));
    assert.deepEqual(
      files.filter((f) => /^sha(256|512)-[0-9a-f]+(\.unpacked)?$/.test(f)),
      [],
      `archive copies kept: ${files.join(', ')}`,
    );
    // an admin removes one: refused while a container uses it, then removed
    await assert.rejects(s.driver.removeImage(idB), refusedAs('IN_USE', /used by a container/));
    await s.deallocate(b.hwaddr);
    await s.driver.removeImage(idB);
    assert.equal(await present(s, idB), false);
    await assert.rejects(s.driver.removeImage(idB), refusedAs('NOT_FOUND', /no cached image/));
    // an evicted archive image comes back: downloaded and loaded again
    const again = await s.allocate(run(`${s.h.prefix}-a:1`, s.imgs.rootfs), {}, s.context());
    await s.deallocate(again.hwaddr);
    await s.deallocate(c.hwaddr);
  });

  it('lists reused disks and snapshots with sizes and last use; removing one in use is refused, then it goes', T, async () => {
    const label = `${s.h.prefix}-keep`;
    const def = s.basic({ disks: { cache: { type: 'ext4', size: 1, reuse: true } } });
    const r = await s.allocate(def, {}, s.context(label));
    const snap = JSON.parse(await s.driver.snapshot(r.hwaddr, false)) as { id: string };
    const list = await s.driver.listDisks();
    const reused = list.find((d) => d.kind === 'reused-disk' && d.name.includes('"cache"'));
    const snapshot = list.find((d) => d.id === `snapshot~${snap.id}`);
    assert.ok(reused && snapshot, JSON.stringify(list));
    assert.equal(reused.inUse, true);
    assert.ok(reused.bytes > 0 && snapshot.bytes > 0 && reused.lastUsed !== '', JSON.stringify(list));
    await assert.rejects(s.driver.removeDisk(reused.id), refusedAs('IN_USE', /attached to resource/));
    await s.deallocate(r.hwaddr);
    assert.equal((await s.driver.listDisks()).find((d) => d.id === reused.id)?.inUse, false);
    await s.driver.removeDisk(reused.id);
    await s.driver.removeDisk(snapshot.id);
    assert.deepEqual(
      (await s.driver.listDisks()).filter((d) => d.id === reused.id || d.id === snapshot.id),
      [],
    );
    assert.deepEqual(readdirSync(join(s.h.dataDir, 'snapshots')), []);
    for (const bad of ['reuse~..~x', 'snapshot~../../etc', 'nothing', `snapshot~${snap.id}`]) {
      await assert.rejects(s.driver.removeDisk(bad), refusedAs('NOT_FOUND', /no kept disk or snapshot/));
    }
    // the next allocation of the label starts with a fresh disk
    const fresh = await s.allocate(def, {}, s.context(label));
    await s.deallocate(fresh.hwaddr);
  });
});
