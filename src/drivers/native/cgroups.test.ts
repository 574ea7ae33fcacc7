/** The cgroup v2 layout's file writes, against a fake cgroup tree (this host runs v1; the driver must also work on v2). */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openCgroups } from './cgroups.js';

describe('native cgroups: v2', () => {
  it('enables cpu, memory and pids down the tree and writes memory.max, memory.swap.max, cpu.max, pids.max', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-fake-cgroup2-'));
    try {
      await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
      await writeFile(join(root, 'cgroup.subtree_control'), 'memory\n');
      const cg = await openCgroups(root, 'abc123');
      assert.equal(cg.version, 2);
      await cg.create('02aabbccddee', { cpu: 3, ramBytes: 2 * 1024 ** 3, pids: 77 });
      const dir = join(root, 'shoal-native-abc123', '02aabbccddee');
      assert.deepEqual(cg.dirs('02aabbccddee'), [dir]);
      assert.deepEqual(cg.procsFiles('02aabbccddee'), [join(dir, 'cgroup.procs')]);
      assert.equal(
        await readFile(join(root, 'cgroup.subtree_control'), 'utf8'),
        '+cpu +pids',
        'only the missing controllers are added at the root',
      );
      assert.equal(await readFile(join(root, 'shoal-native-abc123', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids');
      assert.equal(await readFile(join(dir, 'memory.max'), 'utf8'), String(2 * 1024 ** 3));
      assert.equal(await readFile(join(dir, 'memory.swap.max'), 'utf8'), '0');
      assert.equal(await readFile(join(dir, 'cpu.max'), 'utf8'), '300000 100000');
      assert.equal(await readFile(join(dir, 'pids.max'), 'utf8'), '77');
      assert.deepEqual(await cg.list(), ['02aabbccddee']);
      // pids come from cgroup.procs; cgroup.kill is written when the kernel has it
      await writeFile(join(dir, 'cgroup.procs'), '');
      await writeFile(join(dir, 'cgroup.kill'), '');
      assert.deepEqual(await cg.pids('02aabbccddee'), []);
      await cg.kill('02aabbccddee');
      assert.equal(await readFile(join(dir, 'cgroup.kill'), 'utf8'), '1');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses a v2 tree without the memory controller, naming it', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-fake-cgroup2-'));
    try {
      await writeFile(join(root, 'cgroup.controllers'), 'cpu pids\n');
      await assert.rejects(openCgroups(root, 'x'), /lacks the memory controller/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('refuses a tree that is neither v2 nor has the v1 hierarchies', async () => {
    const root = await mkdtemp(join(tmpdir(), 'shoal-fake-cgroup1-'));
    try {
      await mkdir(join(root, 'memory'));
      await writeFile(join(root, 'memory', 'cgroup.procs'), '');
      await assert.rejects(openCgroups(root, 'x'), /no cgroup cpu controller/);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
