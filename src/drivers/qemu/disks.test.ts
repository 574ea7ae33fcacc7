import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GIB, ReusePool, cloneDisk, copyToQcow2, createBlank, createExt4, createOverlay, imageInfo, labelFolder } from './disks.js';
import { removeDir, tempDataDir } from './test-support.js';

describe('qemu disks', { timeout: 120_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await tempDataDir('disks');
  });
  after(async () => {
    await removeDir(dir);
  });

  it('makes blank qcow2 and sparse raw disks of the asked size', async () => {
    await createBlank('qemu-img', join(dir, 'a.qcow2'), 'qcow2', 3);
    await createBlank('qemu-img', join(dir, 'b.raw'), 'raw', 2);
    assert.equal((await imageInfo('qemu-img', join(dir, 'a.qcow2'), 'qcow2')).virtualSize, 3 * GIB);
    const raw = statSync(join(dir, 'b.raw'));
    assert.equal(raw.size, 2 * GIB);
    assert.ok(raw.blocks * 512 < 1024 * 1024, 'a raw disk is sparse');
  });

  it('formats ext4 disks on the host with the disk label', async () => {
    const path = join(dir, 'c.raw');
    await createExt4('mkfs.ext4', path, 1, 'workspace');
    assert.equal(statSync(path).size, GIB);
    const out = execFileSync('dumpe2fs', ['-h', path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
    assert.match(out, /Filesystem volume name:\s+workspace/);
    assert.match(out, /Filesystem features:.*extent/);
  });

  it('an overlay is tiny and leaves its base untouched', async () => {
    const base = join(dir, 'base.raw');
    execFileSync('dd', ['if=/dev/urandom', `of=${base}`, 'bs=1M', 'count=8', 'status=none']);
    const before = readFileSync(base);
    const overlay = join(dir, 'ov.qcow2');
    await createOverlay('qemu-img', base, 'raw', overlay);
    const info = await imageInfo('qemu-img', overlay, 'qcow2');
    assert.equal(info.backing, base);
    assert.equal(info.virtualSize, 8 * 2 ** 20);
    assert.ok(statSync(overlay).size < 1024 * 1024);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', overlay], { stdio: 'ignore' });
    assert.ok(readFileSync(base).equals(before), 'writing through the overlay changed the base');
  });

  it('copies a raw disk by its content even when the guest wrote a qcow2 header on it', async () => {
    // a "raw disk" whose content is a qcow2 image pointing at a host file
    const forged = join(dir, 'forged.raw');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '/etc/hostname', '-F', 'raw', forged]);
    const copy = join(dir, 'forged-copy.qcow2');
    await copyToQcow2('qemu-img', forged, 'raw', copy);
    const info = await imageInfo('qemu-img', copy, 'qcow2');
    assert.equal(info.backing, undefined);
    const rawSize = statSync(forged).size;
    assert.equal(info.virtualSize, Math.ceil(rawSize / 512) * 512, 'the copy is the raw bytes (sector-rounded), not the forged image');
    execFileSync('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', forged, copy]);
    // and a clone made from the copy is again those bytes, grown to the asked size
    const clone = join(dir, 'clone.raw');
    await cloneDisk('qemu-img', copy, clone, 'raw', 1);
    assert.equal(statSync(clone).size, GIB);
  });

  it('the reuse pool hands out the lowest free slot per label and disk', async () => {
    const pool = new ReusePool(join(dir, 'reuse'));
    const a = await pool.pick({ owner: 'alice', label: 'ci label/1' }, 'ws', 'ext4', new Set());
    assert.equal(a.fresh, true);
    assert.ok(a.path.includes(labelFolder('ci label/1', 'alice')) && !a.path.includes('ci label/1'));
    execFileSync('touch', [a.path]);
    const again = await pool.pick({ owner: 'alice', label: 'ci label/1' }, 'ws', 'ext4', new Set());
    assert.equal(again.path, a.path);
    assert.equal(again.fresh, false);
    const busy = await pool.pick({ owner: 'alice', label: 'ci label/1' }, 'ws', 'ext4', new Set([a.path]));
    assert.notEqual(busy.path, a.path);
    assert.equal(busy.fresh, true);
    const other = await pool.pick({ owner: 'alice', label: 'ci label/2' }, 'ws', 'ext4', new Set());
    assert.notEqual(other.path, a.path);
    assert.notEqual(labelFolder('a/b'), labelFolder('a_b'));
    // another owner's label of the same name never gets alice's disk
    const bobs = await pool.pick({ owner: 'bob', label: 'ci label/1' }, 'ws', 'ext4', new Set());
    assert.equal(bobs.fresh, true);
    assert.notEqual(bobs.path, a.path);
    assert.notEqual(labelFolder('x', 'a.b'), labelFolder('b.x', 'a'));
  });
});
