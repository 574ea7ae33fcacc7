/**
 * max_concurrent_boots: with one boot slot, a second VM's QEMU starts only after the first guest
 * has booted far enough to ask the Meta API for its metadata. Seen from outside: the QEMU
 * processes in /proc and the Meta API requests. Two VM boots.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QemuDriver } from './driver.js';
import { FakeMeta, buildTestGuest, kernelDefinition, removeDir, tempDataDir, testContext, type TestGuest } from './test-support.js';
import { findProcesses } from './vm-process.js';

const T = { timeout: 300_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('qemu driver: concurrent boots are limited', { timeout: 600_000 }, () => {
  let guest: TestGuest;
  let dataDir: string;
  let driver: QemuDriver;
  const meta = new FakeMeta();
  const hwaddrs: string[] = [];

  before(async () => {
    guest = buildTestGuest();
    dataDir = await tempDataDir('boots');
    driver = new QemuDriver(testContext(dataDir, meta));
    await driver.prepare(JSON.stringify({ max_concurrent_boots: 1, boot_hold_seconds: 120, shutdown_timeout_seconds: 30 }));
  }, T);

  after(async () => {
    for (const h of await driver.listResources()) await driver.deallocate(h);
    await driver.close();
    await removeDir(dataDir);
  }, T);

  it('starts the second VM only after the first guest reached the Meta API', T, async () => {
    const prefix = driver.paths().markerPrefix();
    const firstMeta = new Map<string, number>();
    const seen = new Map<string, number>();
    let maxBeforeFirstMeta = 0;
    let done = false;
    const watcher = (async () => {
      const deadline = Date.now() + 240_000;
      while (!done && Date.now() < deadline) {
        const procs = await findProcesses(prefix);
        const now = Date.now();
        for (const marker of procs.keys()) if (!seen.has(marker)) seen.set(marker, now);
        if (firstMeta.size === 0) maxBeforeFirstMeta = Math.max(maxBeforeFirstMeta, procs.size);
        await sleep(20);
      }
    })();
    const def = kernelDefinition(guest);
    const allocations = [0, 1].map(async () => {
      const r = await driver.allocate(def, {}, { application: 'boots', label: 'boots', node: 'test-node' });
      hwaddrs.push(r.hwaddr);
      meta.data.set(r.hwaddr, { N: r.hwaddr });
      void meta.nextRequest(r.hwaddr, true).then(() => firstMeta.set(r.hwaddr, Date.now()));
      return r.hwaddr;
    });
    const [x, y] = await Promise.all(allocations);
    await Promise.all([meta.nextRequest(x!, true), meta.nextRequest(y!, true)]);
    await sleep(50);
    done = true;
    await watcher;
    assert.equal(seen.size, 2, 'both QEMU processes were seen');
    assert.equal(maxBeforeFirstMeta, 1, 'two VMs were booting at once');
    const [firstVm, secondVm] = [...seen.entries()].sort((m, n) => m[1] - n[1]);
    const firstGuest = hwaddrs.find((h) => firstVm![0].endsWith(h.replaceAll(':', '')))!;
    assert.ok(firstMeta.has(firstGuest));
    assert.ok(secondVm![1] >= firstMeta.get(firstGuest)!, 'the second QEMU started before the first guest asked for its metadata');
  });
});
