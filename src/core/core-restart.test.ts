import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringifyDefinition } from '../contract/index.js';
import { choosePlacement } from './scheduler/placement.js';
import { ADMIN, ALICE, Harness, testLabel, waitStatus } from './testing/core-harness.js';

test('restart reconciliation: kept, vanished, interrupted allocation, resumed deallocation, orphan removed', async () => {
  const h = await Harness.create('sqlite');
  try {
    const dataDir = await h.tempDir();
    const first = await h.node({ name: 'node-1', dataDir });
    const { core, store, driver } = first;
    await core.createLabel(ALICE, testLabel('keep'));
    const [kept, vanished, resumed] = [
      await core.createApplication(ALICE, { label: 'keep' }),
      await core.createApplication(ALICE, { label: 'keep' }),
      await core.createApplication(ALICE, { label: 'keep' }),
    ];
    for (const a of [kept, vanished, resumed]) await waitStatus(core, a.uid, 'ALLOCATED');
    const rKept = await core.getResource(ALICE, kept.uid);
    const rVanished = await core.getResource(ALICE, vanished.uid);
    const rResumed = await core.getResource(ALICE, resumed.uid);

    // an application that is NEW when the node goes down
    await core.setMaintenance(ADMIN, true);
    const interrupted = await core.createApplication(ALICE, { label: 'keep' });
    // a resource the driver has but the store never heard of
    const orphan = await driver.allocate(stringifyDefinition({ options: {}, requirements: { cpu: 1, ram: 1 } }), {});

    await core.stop(); // the node "dies": resources stay

    // while it is down: its claim of `interrupted` was in progress (ELECTED, no resource yet),
    // a deallocation of `resumed` was requested, and `vanished` disappeared from the backend
    const label = await store.findLabel('keep', 'latest');
    const claimed = await store.claim({
      node: 'node-1',
      at: new Date().toISOString(),
      pageSize: 10,
      maxScan: 10,
      choose: (c, u) => choosePlacement(c, u, { node: 'node-1', cpu: 4, ram: 8, drivers: new Map([['test', undefined]]) }),
    });
    assert.deepEqual(
      claimed.map((c) => c.app.uid),
      [interrupted.uid],
    );
    assert.ok(label);
    await store.transition([
      {
        uid: resumed.uid,
        from: ['ALLOCATED'],
        to: 'DEALLOCATE',
        description: 'requested while the node was down',
        at: new Date().toISOString(),
      },
    ]);
    await rm(join(dataDir, 'resources', `${rVanished.hwaddr.replaceAll(':', '-')}.json`));
    await store.setMaintenance('node-1', false);
    await store.close();

    // the node comes back on the same store and the same driver data
    const second = await h.node({ name: 'node-1', dataDir });
    const c2 = second.core;
    assert.equal((await c2.getState(ALICE, kept.uid)).status, 'ALLOCATED');
    assert.deepEqual(
      await c2.metadataFor({ kind: 'address', address: rKept.ipaddr }),
      rKept.metadata,
      'kept resources answer the Meta API',
    );
    assert.equal(await second.driver.status(rKept.hwaddr), 'ALLOCATED');

    const why = await waitStatus(c2, vanished.uid, 'ERROR');
    assert.match(why, /resource vanished/);
    assert.equal(await c2.metadataFor({ kind: 'address', address: rVanished.ipaddr }), null);

    await waitStatus(c2, resumed.uid, 'DEALLOCATED');
    assert.equal(await second.driver.status(rResumed.hwaddr), 'NONE', 'deallocation resumed after the restart');

    await waitStatus(c2, interrupted.uid, 'ALLOCATED');
    const states = (await c2.listStates(ALICE, interrupted.uid)).items;
    assert.deepEqual(
      states.map((s) => s.status),
      ['NEW', 'ELECTED', 'NEW', 'ELECTED', 'ALLOCATED'],
    );
    assert.match(states[2]!.description, /interrupted by a restart of node node-1/);

    assert.equal(await second.driver.status(orphan.hwaddr), 'NONE', 'orphan deallocated');
    const listed = new Set(await second.driver.listResources());
    assert.deepEqual(
      [...listed].sort(),
      [rKept.hwaddr, (await c2.getResource(ALICE, interrupted.uid)).hwaddr].sort(),
      'the driver holds exactly what the store knows',
    );
    for (const a of [kept, interrupted]) await c2.deallocate(ALICE, a.uid);
    for (const a of [kept, interrupted]) await waitStatus(c2, a.uid, 'DEALLOCATED');
  } finally {
    await h.close();
  }
});

test('graceful stop with wait: returns once the node holds nothing (lifetimes end)', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node();
    await n.core.createLabel(ALICE, testLabel('brief', { lifetime: '300ms' }));
    const app = await n.core.createApplication(ALICE, { label: 'brief' });
    await waitStatus(n.core, app.uid, 'ALLOCATED');
    await n.core.stop({ wait: true, timeoutMs: 30_000 });
    assert.equal((await n.store.getApplication(app.uid))?.status, 'DEALLOCATED');
    await assert.rejects(n.core.createApplication(ALICE, { label: 'brief' }), /shutting down/);
  } finally {
    await h.close();
  }
});

test('an ELECTED application no allocation works on (lost bookkeeping) goes back to NEW and is allocated', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node();
    await n.core.setMaintenance(ADMIN, true);
    await n.core.createLabel(ALICE, testLabel('stuck'));
    const app = await n.core.createApplication(ALICE, { label: 'stuck' });
    // elected for this node behind the core's back: nothing is allocating it
    const [c] = await n.store.claim({
      node: 'node-1',
      at: new Date().toISOString(),
      pageSize: 10,
      maxScan: 10,
      choose: (cs, u) => choosePlacement(cs, u, { node: 'node-1', cpu: 4, ram: 8, drivers: new Map([['test', undefined]]) }),
    });
    assert.equal(c?.app.uid, app.uid);
    await n.core.setMaintenance(ADMIN, false);
    await waitStatus(n.core, app.uid, 'ALLOCATED');
    const states = (await n.core.listStates(ALICE, app.uid)).items;
    assert.match(states[2]!.description, /was interrupted; waiting for a node again/);
    await n.core.deallocate(ALICE, app.uid);
    await waitStatus(n.core, app.uid, 'DEALLOCATED');
  } finally {
    await h.close();
  }
});
