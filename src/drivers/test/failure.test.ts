import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { INJECTED_CALLS } from './config.js';
import { failureFires } from './failure.js';
import { def, preparedDriver, TempDirs } from './test-helpers.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const injected = (pattern: RegExp) => (err: unknown) => err instanceof DriverError && err.code === 'INJECTED' && pattern.test(err.message);

/** Runs `call` n times; counts the INJECTED failures (any other error fails the test). */
async function countInjected(n: number, call: () => Promise<unknown>): Promise<number> {
  let failures = 0;
  for (let i = 0; i < n; i++) {
    try {
      await call();
    } catch (err) {
      if (!(err instanceof DriverError) || err.code !== 'INJECTED') throw err;
      failures++;
    }
  }
  return failures;
}

describe('test driver: failure injection', () => {
  it('failureFires: 0 never, ≥ 100 always, else that percent of the random draw', () => {
    assert.equal(
      failureFires(0, () => 0),
      false,
    );
    for (const v of [100, 150, 254, 255])
      assert.equal(
        failureFires(v, () => 0.999999),
        true,
        String(v),
      );
    assert.equal(
      failureFires(25, () => 0.2499),
      true,
    );
    assert.equal(
      failureFires(25, () => 0.25),
      false,
    );
    assert.equal(
      failureFires(1, () => 0.0099),
      true,
    );
    assert.equal(
      failureFires(1, () => 0.01),
      false,
    );
  });

  it('fail_* = 0 never fails, 255 always fails, for every call', async () => {
    const never = await preparedDriver(await dirs.make(), { fail_allocate: 0, fail_deallocate: 0, fail_status: 0, fail_snapshot: 0 });
    const results = [];
    for (let i = 0; i < 100; i++) results.push(await never.allocate(def(), {}));
    for (const r of results) {
      assert.equal(await never.status(r.hwaddr), StatusAllocated);
      await never.snapshot(r.hwaddr, false);
      await never.deallocate(r.hwaddr);
    }
    const always = await preparedDriver(await dirs.make(), {
      fail_allocate: 255,
      fail_deallocate: 255,
      fail_status: 255,
      fail_snapshot: 255,
    });
    assert.equal(await countInjected(100, () => always.allocate(def(), {})), 100);
    for (const call of INJECTED_CALLS) {
      const run = {
        allocate: () => always.allocate(def(), {}),
        deallocate: () => always.deallocate('02:00:00:00:00:01'),
        status: () => always.status('02:00:00:00:00:01'),
        snapshot: () => always.snapshot('02:00:00:00:00:01', false),
      }[call];
      await assert.rejects(run(), injected(new RegExp(`fail_${call}=255 \\(always, from the node config\\) fired for ${call}`)));
    }
    assert.deepEqual(await readdir(always.resourcesDir), [], 'a failed allocate left a file');
  });

  it('fail_* = 1–99 fails about that percent of 400 calls (loose bounds, ≥ 7 sd)', async () => {
    const d = await preparedDriver(await dirs.make(), { fail_status: 25, fail_allocate: 50 });
    const statusFailures = await countInjected(400, () => d.status('02:00:00:00:00:01'));
    assert.ok(statusFailures >= 40 && statusFailures <= 160, `fail_status=25 failed ${statusFailures}/400`);
    const hw: string[] = [];
    const allocFailures = await countInjected(400, async () => hw.push((await d.allocate(def(), {})).hwaddr));
    assert.ok(allocFailures >= 120 && allocFailures <= 280, `fail_allocate=50 failed ${allocFailures}/400`);
    assert.equal(hw.length, 400 - allocFailures);
    assert.equal((await readdir(d.resourcesDir)).length, hw.length, 'failed allocations left files');
    for (const h of hw) await d.deallocate(h);
  });

  it('with an injected random source the percent is exact', async () => {
    let i = 0;
    const d = await preparedDriver(await dirs.make(), { fail_status: 10 }, { random: () => (i++ % 100) / 100 });
    assert.equal(await countInjected(400, () => d.status('02:00:00:00:00:01')), 40);
  });

  it('label options override the node config for that resource, and later calls use what allocate recorded', async () => {
    const d = await preparedDriver(await dirs.make(), { fail_allocate: 255, fail_status: 255 });
    await assert.rejects(d.allocate(def(), {}), injected(/fail_allocate=255 \(always, from the node config\)/));
    const r = await d.allocate(def({ cpu: 1, ram: 1 }, { fail_allocate: 0, fail_status: 0, fail_deallocate: 255, fail_snapshot: 255 }), {});
    assert.equal(await d.status(r.hwaddr), StatusAllocated, 'the label said fail_status 0');
    await assert.rejects(d.status('02:00:00:00:00:01'), injected(/fail_status=255/), 'other hwaddrs still get the node config');
    await assert.rejects(d.snapshot(r.hwaddr, false), injected(/fail_snapshot=255 \(always, from the label options\)/));
    await assert.rejects(d.deallocate(r.hwaddr), injected(/fail_deallocate=255 \(always, from the label options\) fired for deallocate/));
    assert.equal(await d.status(r.hwaddr), StatusAllocated, 'a failed deallocate must leave the resource');
    assert.equal((await readdir(d.resourcesDir)).length, 1);
  });

  it('a label can inject a failure the node config does not', async () => {
    const d = await preparedDriver(await dirs.make());
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 1 }, { fail_allocate: 255 }), {}), injected(/from the label options/));
    assert.deepEqual(await d.listResources(), []);
  });
});

describe('test driver: delays', () => {
  it('delay_allocate waits in real time; meanwhile there is no file, status is NONE and capacity is held', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 1 });
    const started = performance.now();
    // allocate() reserves synchronously, before its delay: no waiting needed to be "meanwhile"
    const pending = d.allocate(def({ cpu: 1, ram: 1 }, { delay_allocate: 300 }), {});
    assert.deepEqual(await readdir(d.resourcesDir), [], 'the file appeared before the delay ended');
    assert.deepEqual(await d.listResources(), []);
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 1 }), {}), (e: unknown) => e instanceof DriverError && e.code === 'NO_CAPACITY');
    const r = await pending;
    assert.ok(performance.now() - started >= 290, 'allocate returned before its delay');
    assert.equal(await d.status(r.hwaddr), StatusAllocated);
    await d.deallocate(r.hwaddr);
  });

  it('delay_deallocate, delay_status and delay_snapshot wait too (node config and label options)', async () => {
    const d = await preparedDriver(await dirs.make(), { delay_status: 150 });
    const r = await d.allocate(def({ cpu: 1, ram: 1 }, { delay_deallocate: 150, delay_snapshot: 150 }), {});
    for (const [what, run] of [
      ['status', () => d.status(r.hwaddr)],
      ['snapshot', () => d.snapshot(r.hwaddr, false)],
      ['deallocate', () => d.deallocate(r.hwaddr)],
    ] as const) {
      const t = performance.now();
      await run();
      assert.ok(performance.now() - t >= 140, `${what} returned before its delay`);
    }
    assert.equal(await d.status(r.hwaddr), StatusNone);
  });

  it('a delayed then injected allocate fails after the delay and leaves nothing', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 1 });
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 1 }, { delay_allocate: 100, fail_allocate: 255 }), {}), injected(/fail_allocate/));
    assert.deepEqual(await readdir(d.resourcesDir), []);
    const r = await d.allocate(def({ cpu: 1, ram: 1 }), {}); // its cpu was released
    await d.deallocate(r.hwaddr);
  });
});
