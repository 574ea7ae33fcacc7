import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ADMIN, ALICE, Harness, testLabel, waitStatus } from '../testing/core-harness.js';

test('resource check: a resource its backend lost behind the node goes to ERROR, its Meta API entry and capacity are freed; the others stay', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node({ name: 'checker', limits: { resourceCheckMs: 200 } });
    await n.core.createLabel(ALICE, testLabel('rc'));
    const lost = (await n.core.createApplication(ALICE, { label: 'rc' })).uid;
    const kept = (await n.core.createApplication(ALICE, { label: 'rc' })).uid;
    for (const u of [lost, kept]) await waitStatus(n.core, u, 'ALLOCATED');
    const gone = await n.core.getResource(ALICE, lost);
    // the backend loses it (the test driver's record of it disappears)
    await rm(join(n.driver.resourcesDir, `${gone.hwaddr.replaceAll(':', '-')}.json`));

    const why = await waitStatus(n.core, lost, 'ERROR');
    assert.match(why, new RegExp(`resource vanished: test no longer runs ${gone.hwaddr}`));
    assert.equal((await n.core.getState(ALICE, kept)).status, 'ALLOCATED');
    assert.deepEqual(await n.driver.listResources(), [(await n.core.getResource(ALICE, kept)).hwaddr]);
    assert.equal(await n.core.metadataFor({ kind: 'address', address: gone.ipaddr }), null, 'its Meta API entry is gone');
    assert.deepEqual((await n.core.thisNode(ADMIN)).used, { cpu: 1, ram: 1 }, 'its capacity is free again');
  } finally {
    await h.close();
  }
});
