import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StateEvent } from '../model/index.js';
import { ADMIN, ALICE, Harness, testLabel, waitFor } from './testing/core-harness.js';

/**
 * A burst of `count` applications on a node with room for `room` at a time; every application is
 * deallocated as soon as it is ALLOCATED. Checks from outside (the store's usage and the driver's
 * own resource files) that the node never holds more than `room`, that elections follow creation
 * order, and that every application ends DEALLOCATED after exactly one election.
 */
async function burst(opts: { count: number; nodeCpu: number; driverCpu?: number; room: number; delayAllocate?: number }): Promise<void> {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node({
      cpu: opts.nodeCpu,
      ram: 1000,
      driverConfig: opts.driverCpu ? { cpu: opts.driverCpu, ram: 1000 } : {},
    });
    const { core, store, driver } = n;
    await core.createLabel(ALICE, testLabel('burst', { options: opts.delayAllocate ? { delay_allocate: opts.delayAllocate } : {} }));

    const elected: string[] = [];
    const done = new Set<string>();
    const errors: StateEvent[] = [];
    const dealloc: Promise<unknown>[] = [];
    const unsubscribe = core.subscribe(ADMIN, undefined, (e) => {
      if (e.status === 'ELECTED') elected.push(e.application_uid);
      if (e.status === 'ALLOCATED') dealloc.push(core.deallocate(ALICE, e.application_uid));
      if (e.status === 'DEALLOCATED') done.add(e.application_uid);
      if (e.status === 'ERROR') errors.push(e);
    });
    // a started core keeps its event feed pinned, so a subscription without a resume id is live
    // as soon as subscribe() returns (core-events.test.ts checks this): the burst can start now

    const violations: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const held = (await store.usage(n.name)).cpu;
        if (held > opts.room) violations.push(`store: ${held} held`);
        const files = (await driver.listResources()).length;
        if (files > opts.room) violations.push(`driver: ${files} resources`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();

    const created: string[] = [];
    for (let i = 0; i < opts.count; i++) created.push((await core.createApplication(ALICE, { label: 'burst' })).uid);
    try {
      await waitFor('every application DEALLOCATED', () => done.size === opts.count || errors.length > 0, 120_000);
    } finally {
      watching = false;
      await watch;
      unsubscribe();
    }
    await Promise.all(dealloc);
    assert.deepEqual(errors, []);
    assert.deepEqual(violations, []);
    assert.deepEqual(elected, created, 'elected in creation order (FIFO), each exactly once');
    for (const uid of created.slice(0, 20)) {
      assert.deepEqual(
        (await core.listStates(ALICE, uid)).items.map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
      );
    }
    assert.equal((await store.usage(n.name)).cpu, 0);
    assert.deepEqual(await driver.listResources(), []);
    const counts = await store.countByStatus();
    assert.equal(counts.NEW ?? 0, 0);
  } finally {
    await h.close();
  }
}

test('scheduler: 300 applications on room for 20 — never over capacity, FIFO, nothing lost', async () => {
  await burst({ count: 300, nodeCpu: 20, room: 20 });
});

test('scheduler: the driver instance capacity limits too (node 50, driver 7), with slow allocations', async () => {
  await burst({ count: 80, nodeCpu: 50, driverCpu: 7, room: 7, delayAllocate: 5 });
});

test('scheduler: overbooking lets a node hand out more than its cores', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node({ cpu: 2, cpuOverbook: 2, ram: 100 });
    await n.core.createLabel(ALICE, testLabel('ob'));
    const events: StateEvent[] = [];
    const unsubscribe = n.core.subscribe(ADMIN, undefined, (e) => events.push(e)); // live at once (pinned feed)
    const apps = [];
    for (let i = 0; i < 6; i++) apps.push(await n.core.createApplication(ALICE, { label: 'ob' }));
    await waitFor('4 allocated', async () => (await n.core.listApplications(ADMIN, { status: 'ALLOCATED' })).items.length === 4);
    // sentinel: free one place; the fifth application (FIFO) must be elected only after that, and
    // the sixth not at all — had the scheduler gone over 2 × 2, the fifth would have come earlier
    const first = events.find((e) => e.status === 'ALLOCATED')!.application_uid;
    const fifth = apps.find((a) => a.uid !== first && !events.some((e) => e.application_uid === a.uid && e.status === 'ELECTED'))!;
    await n.core.deallocate(ALICE, first);
    await waitFor(
      'the fifth allocated in the freed place',
      () => events.some((e) => e.application_uid === fifth.uid && e.status === 'ALLOCATED') || undefined,
    );
    const deallocating = events.find((e) => e.application_uid === first && e.status === 'DEALLOCATE')!;
    const fifthElected = events.find((e) => e.application_uid === fifth.uid && e.status === 'ELECTED')!;
    assert.ok(Number(fifthElected.id) > Number(deallocating.id), 'the fifth was elected only once a place was freed');
    unsubscribe();
    assert.equal((await n.core.listApplications(ADMIN, { status: 'ALLOCATED' })).items.length, 4, 'cpu 2 × overbook 2');
    assert.equal((await n.core.listApplications(ADMIN, { status: 'NEW' })).items.length, 1);
    for (const a of apps) await n.core.deallocate(ALICE, a.uid);
    await waitFor(
      'all done',
      async () => (await n.store.countByStatus()).ALLOCATED === undefined && (await n.store.countByStatus()).DEALLOCATE === undefined,
    );
  } finally {
    await h.close();
  }
});
