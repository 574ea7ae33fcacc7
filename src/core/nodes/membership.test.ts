import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN, ALICE, Harness, testLabel, waitStatus } from '../testing/core-harness.js';

test('membership: nodes see each other alive with their capacity and drivers; a stopped node is not alive at once', async () => {
  const h = await Harness.create('sqlite');
  try {
    const a = await h.node({ name: 'node-a', cpu: 4 });
    const b = await h.node({ name: 'node-b', cpu: 2 });
    // b's row is written before its start() resolves; a reads the node rows as they are now
    const seen = await a.core.listNodes(ADMIN);
    assert.deepEqual(
      seen.map((n) => [n.name, n.alive, n.capacity.cpu, n.drivers.map((d) => d.instance)]),
      [
        ['node-a', true, 4, ['test']],
        ['node-b', true, 2, ['test']],
      ],
    );
    await b.core.stop();
    const after = await a.core.listNodes(ADMIN);
    assert.equal(
      after.find((n) => n.name === 'node-b')?.alive,
      false,
      'a node that stopped on purpose is dead at once, not after deadAfterMs',
    );
    assert.equal((await b.core.thisNode(ADMIN)).alive, false);
  } finally {
    await h.close();
  }
});

test('membership: maintenance is kept in the node row across a restart; lifting it lets the node allocate', async () => {
  const h = await Harness.create('sqlite');
  try {
    const a = await h.node({ name: 'node-m' });
    await a.core.createLabel(ALICE, testLabel('m'));
    assert.equal((await a.core.setMaintenance(ADMIN, true)).maintenance, true);
    const app = await a.core.createApplication(ALICE, { label: 'm' });
    assert.equal((await a.store.getApplication(app.uid))?.status, 'NEW');
    await a.close();
    const again = await h.node({ name: 'node-m' });
    assert.equal((await again.core.thisNode(ADMIN)).maintenance, true, 'maintenance survives the restart');
    assert.equal((await again.store.getApplication(app.uid))?.status, 'NEW');
    await again.core.setMaintenance(ADMIN, false);
    await waitStatus(again.core, app.uid, 'ALLOCATED');
  } finally {
    await h.close();
  }
});

test('graceful stop with wait gives up at its timeout while a resource is still held', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node();
    await n.core.createLabel(ALICE, testLabel('long'));
    const app = await n.core.createApplication(ALICE, { label: 'long' });
    await waitStatus(n.core, app.uid, 'ALLOCATED');
    await n.core.stop({ wait: true, timeoutMs: 50 });
    assert.equal((await n.store.getApplication(app.uid))?.status, 'ALLOCATED');
  } finally {
    await h.close();
  }
});
