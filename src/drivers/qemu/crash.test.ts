/**
 * A node process killed with SIGKILL in the middle of an allocation: a fresh driver on the same
 * data dir finds the leftover VM (listResources, so the core can remove it as an orphan) and
 * deallocate removes every trace. One VM boot.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { QemuDriver } from './driver.js';
import { listVmNets } from '../shared/host-net.js';
import { DriverPaths } from './paths.js';
import { withQmp } from './qmp-client.js';
import {
  FakeMeta,
  buildTestGuest,
  kernelDefinition,
  qemuByMac,
  removeDir,
  tempDataDir,
  testContext,
  type TestGuest,
} from './test-support.js';
import { findProcesses } from './vm-process.js';

const T = { timeout: 240_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('qemu driver: a node killed mid-allocation', { timeout: 600_000 }, () => {
  let guest: TestGuest;
  let dataDir: string;
  let child: ChildProcess | undefined;
  let childOut = '';
  let leftover: string | undefined;
  const drivers: QemuDriver[] = [];
  /** a driver on the test's data dir, closed in after() whatever happens */
  const freshDriver = async (cfg = config): Promise<QemuDriver> => {
    const d = new QemuDriver(testContext(dataDir, new FakeMeta()));
    drivers.push(d);
    await d.prepare(cfg);
    return d;
  };
  const config = JSON.stringify({ accel: 'tcg' });

  before(async () => {
    guest = buildTestGuest();
    dataDir = await tempDataDir('crash');
  }, T);

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const d of drivers) await d.close();
    const cleaner = new QemuDriver(testContext(dataDir, new FakeMeta()));
    await cleaner.prepare(config);
    for (const h of await cleaner.listResources()) await cleaner.deallocate(h);
    for (const pid of (await findProcesses(cleaner.paths().markerPrefix())).values()) process.kill(pid, 'SIGKILL');
    await cleaner.close();
    await removeDir(dataDir);
  }, T);

  it('the killed allocation leaves a running VM that a fresh driver lists', T, async () => {
    // a qemu-system that takes 2 s before it really starts a VM: the allocation is surely in
    // progress when the node process is killed
    const slow = join(dataDir, 'slow-qemu.sh');
    await writeFile(slow, '#!/bin/sh\ncase " $* " in *" -daemonize "*) sleep 2;; esac\nexec qemu-system-x86_64 "$@"\n');
    await chmod(slow, 0o755);
    const script = join(dirname(fileURLToPath(import.meta.url)), 'test-fixtures', 'allocate-child.js');
    const def = kernelDefinition(guest, { disks: { tmp: { type: 'ext4', size: 1 } } });
    child = spawn(process.execPath, [script, dataDir, JSON.stringify({ accel: 'tcg', qemu_system: slow }), def], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const childExit = new Promise<void>((r) => child!.once('exit', () => r()));
    child.stdout!.on('data', (d: Buffer) => (childOut += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (childOut += d.toString()));

    const prefix = new DriverPaths(dataDir, join(dataDir, 'images'), undefined).markerPrefix();
    // wait until the VM's process exists (the wrapper still sleeping), then kill the node process
    const deadline = Date.now() + 120_000;
    while ((await findProcesses(prefix)).size === 0) {
      assert.ok(Date.now() < deadline, `no qemu process appeared; child said: ${childOut}`);
      assert.equal(child.exitCode, null, `the child exited early: ${childOut}`);
      await sleep(20);
    }
    child.kill('SIGKILL');
    await childExit;
    assert.doesNotMatch(childOut, /ALLOCATED/, 'allocate returned before the kill: not mid-allocation');

    const fresh = await freshDriver();
    const list = await fresh.listResources();
    assert.equal(list.length, 1, `listResources: ${list.join(', ')}`);
    leftover = list[0]!;
    // the orphan really runs: wait for its QEMU to finish starting and answer on its QMP socket
    let vm = await qemuByMac(leftover);
    const until = Date.now() + 60_000;
    while (!vm || !existsSync(vm.qmp) || vm.args[0]?.endsWith('.sh')) {
      assert.ok(Date.now() < until, 'the leftover VM never started');
      await sleep(100);
      vm = await qemuByMac(leftover);
    }
    const status = await withQmp(vm.qmp, (q) => q.execute<{ status: string }>('query-status'), { timeoutMs: 30_000 });
    assert.equal(status.status, 'running');
    await fresh.close();
  });

  it('status says it cannot tell while QEMU does not answer (stopped process)', T, async () => {
    assert.ok(leftover, 'the previous test failed');
    const vm = await qemuByMac(leftover);
    assert.ok(vm);
    const fresh = await freshDriver(JSON.stringify({ accel: 'tcg', qmp_timeout_seconds: 2 }));
    process.kill(vm.pid, 'SIGSTOP');
    try {
      await assert.rejects(
        fresh.status(leftover),
        (err: unknown) => err instanceof DriverError && err.code === 'BACKEND' && /cannot tell/.test(err.message),
      );
    } finally {
      process.kill(vm.pid, 'SIGCONT');
    }
    assert.equal(await fresh.status(leftover), StatusAllocated);
    await fresh.close();
  });

  it("a fresh driver's deallocate removes every trace of it", T, async () => {
    assert.ok(leftover, 'the previous test failed');
    const fresh = await freshDriver();
    const vm = await qemuByMac(leftover);
    assert.ok(vm, 'the leftover VM is gone already');
    await fresh.deallocate(leftover);
    assert.equal(await qemuByMac(leftover), undefined, 'qemu still runs');
    assert.equal(existsSync(`/proc/${vm.pid}/cmdline`) && (await findProcesses(fresh.paths().markerPrefix())).size > 0, false);
    assert.equal(await fresh.status(leftover), StatusNone);
    assert.deepEqual(await fresh.listResources(), []);
    const p = fresh.paths();
    assert.deepEqual(readdirSync(p.vmsDir), [], 'VM dir left');
    assert.deepEqual(readdirSync(p.stateDir), [], 'state file left');
    assert.deepEqual(readdirSync(p.socketDir), [], 'sockets left');
    assert.deepEqual([...(await listVmNets(fresh.netNames()))], [], 'network namespace or iptables chains left');
    await fresh.close();
  });
});
