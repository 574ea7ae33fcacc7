import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { StateEvent } from '../model/index.js';
import { choosePlacement } from './scheduler/placement.js';
import { ADMIN, ALICE, Harness, testLabel, waitFor, waitStatus } from './testing/core-harness.js';

/** Several nodes on one PostgreSQL: that is the whole cluster. */

test('cluster on PostgreSQL: two nodes share a burst, no double allocation, each within its capacity', async () => {
  const h = await Harness.create('postgres');
  try {
    const a = await h.node({ name: 'pg-a', cpu: 6, ram: 100 });
    const b = await h.node({ name: 'pg-b', cpu: 4, ram: 100 });
    await a.core.createLabel(ALICE, testLabel('shared', { options: { delay_allocate: 2 } }));

    const elected = new Map<string, string[]>();
    const done = new Set<string>();
    const errors: StateEvent[] = [];
    const off = a.core.subscribe(ADMIN, undefined, (e) => {
      if (e.status === 'ELECTED') elected.set(e.application_uid, [...(elected.get(e.application_uid) ?? []), e.description]);
      if (e.status === 'ALLOCATED') void a.core.deallocate(ALICE, e.application_uid).catch(() => {});
      if (e.status === 'DEALLOCATED') done.add(e.application_uid);
      if (e.status === 'ERROR') errors.push(e);
    });
    // live at once: a started core's event feed is pinned (see core-events.test.ts)
    const violations: string[] = [];
    let watching = true;
    const watch = (async () => {
      while (watching) {
        const usage = await a.store.usageByNode();
        if ((usage.get('pg-a')?.cpu ?? 0) > 6) violations.push(`pg-a ${usage.get('pg-a')?.cpu}`);
        if ((usage.get('pg-b')?.cpu ?? 0) > 4) violations.push(`pg-b ${usage.get('pg-b')?.cpu}`);
        const fa = (await a.driver.listResources()).length;
        const fb = (await b.driver.listResources()).length;
        if (fa > 6 || fb > 4) violations.push(`driver files a=${fa} b=${fb}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const uids: string[] = [];
    for (let i = 0; i < 80; i++) uids.push((await (i % 2 ? a : b).core.createApplication(ALICE, { label: 'shared' })).uid);
    try {
      await waitFor('all deallocated', () => done.size === uids.length || errors.length > 0, 120_000);
    } finally {
      watching = false;
      await watch;
      off();
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(violations, []);
    let onA = 0;
    let onB = 0;
    for (const uid of uids) {
      const states = (await a.core.listStates(ALICE, uid)).items;
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
        `${uid}: one election, one allocation`,
      );
      if (/node pg-a/.test(states[1]!.description)) onA++;
      else onB++;
    }
    assert.ok(onA > 0 && onB > 0, `both nodes worked (a=${onA}, b=${onB})`);
    assert.deepEqual(await a.driver.listResources(), []);
    assert.deepEqual(await b.driver.listResources(), []);
    // a deallocation requested through the node that does not hold the resource reaches the one that does
    await b.core.setMaintenance(ADMIN, true);
    const held = await a.core.createApplication(ALICE, { label: 'shared' });
    await waitStatus(a.core, held.uid, 'ALLOCATED');
    assert.equal((await a.core.getResource(ALICE, held.uid)).node, 'pg-a');
    assert.deepEqual(await b.core.deallocate(ALICE, held.uid), { status: 'DEALLOCATE' });
    await waitStatus(b.core, held.uid, 'DEALLOCATED');
    assert.deepEqual(await a.driver.listResources(), []);
    const nodes = await b.core.listNodes(ADMIN);
    assert.deepEqual(
      nodes.map((x) => [x.name, x.alive]),
      [
        ['pg-a', true],
        ['pg-b', true],
      ],
    );
  } finally {
    await h.close();
  }
});

test('cluster on PostgreSQL: the ELECTED work of a dead node is re-elected by a live one', async () => {
  const h = await Harness.create('postgres');
  try {
    const live = await h.node({ name: 'live' });
    await live.core.setMaintenance(ADMIN, true); // keep the application NEW until the "ghost" claims it
    await live.core.createLabel(ALICE, testLabel('orphaned'));
    const app = await live.core.createApplication(ALICE, { label: 'orphaned' });
    // a node that claims it and then dies (no heartbeat ever again)
    const old = new Date(Date.now() - 60_000).toISOString();
    await live.store.upsertNode({
      name: 'ghost',
      address: 'https://ghost:8001',
      cpu: 4,
      ram: 8,
      cpu_overbook: 1,
      ram_overbook: 1,
      tags: {},
      drivers: [{ instance: 'test', driver: 'test', enabled: true, health: 'healthy', description: '', attributes: {} }],
      heartbeat_at: old,
      started_at: old,
      maintenance: false,
      lost_at: null,
    });
    const claimed = await live.store.claim({
      node: 'ghost',
      at: new Date().toISOString(),
      pageSize: 10,
      maxScan: 10,
      choose: (c, u) => choosePlacement(c, u, { node: 'ghost', cpu: 4, ram: 8, drivers: new Map([['test', undefined]]) }),
    });
    assert.deepEqual(
      claimed.map((c) => c.app.uid),
      [app.uid],
    );
    await live.core.setMaintenance(ADMIN, false);
    await waitStatus(live.core, app.uid, 'ALLOCATED');
    const states = (await live.core.listStates(ALICE, app.uid)).items;
    assert.deepEqual(
      states.map((s) => s.status),
      ['NEW', 'ELECTED', 'NEW', 'ELECTED', 'ALLOCATED'],
    );
    assert.match(states[2]!.description, /node ghost stopped answering/);
    assert.equal((await live.core.getResource(ALICE, app.uid)).node, 'live');
    assert.equal((await live.core.listNodes(ADMIN)).find((x) => x.name === 'ghost')?.alive, false);
    await live.core.deallocate(ALICE, app.uid);
    await waitStatus(live.core, app.uid, 'DEALLOCATED');
  } finally {
    await h.close();
  }
});
