import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreError } from './errors.js';
import { ADMIN, ALICE, BOB, Harness, testLabel, waitFor, waitStatus, type NodeSpec, type TestNode } from './testing/core-harness.js';

const isCode = (code: string) => (e: unknown) => e instanceof CoreError && e.code === code;

/** A node alone on its own database (nodes sharing a database form a cluster and share work). */
async function alone(spec: NodeSpec, fn: (n: TestNode, h: Harness) => Promise<void>): Promise<void> {
  const h = await Harness.create('sqlite');
  try {
    await fn(await h.node(spec), h);
  } finally {
    await h.close();
  }
}

describe('core lifecycle on the test driver', () => {
  let h: Harness;
  let n: TestNode;

  before(async () => {
    h = await Harness.create('sqlite');
    n = await h.node({ cpu: 4, ram: 8 });
  });
  after(async () => {
    await h.close();
  });

  test('create → ALLOCATED → resource + Meta API → deallocate → DEALLOCATED, forgotten at once', async () => {
    const { core, driver } = n;
    await core.createLabel(ALICE, testLabel('life', { metadata: { LABEL_KEY: 'l', SHARED: 'label' } }));
    const app = await core.createApplication(ALICE, { label: 'life', metadata: { JOB: '42', SHARED: 'app' } });
    assert.equal(app.state.status, 'NEW');
    assert.equal(app.owner, 'alice');
    await waitStatus(core, app.uid, 'ALLOCATED');

    const res = await core.getResource(ALICE, app.uid);
    assert.equal(res.node, 'node-1');
    assert.equal(res.driver, 'test');
    assert.equal(res.definition_index, 0);
    assert.match(res.hwaddr, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.match(res.ipaddr, /^127\.\d+\.\d+\.\d+$/);
    assert.deepEqual(res.metadata, { LABEL_KEY: 'l', SHARED: 'app', JOB: '42' }, 'application keys win');
    assert.equal(await driver.status(res.hwaddr), 'ALLOCATED', 'the driver really has it');

    assert.deepEqual(await core.metadataFor({ kind: 'address', address: res.ipaddr }), res.metadata);
    assert.deepEqual(await core.metadataFor({ kind: 'address', address: `::ffff:${res.ipaddr}` }), res.metadata);
    assert.deepEqual(await core.metadataFor({ kind: 'hwaddr', hwaddr: res.hwaddr.toUpperCase() }), res.metadata);
    assert.equal(await core.metadataFor({ kind: 'address', address: '127.9.9.9' }), null);

    const r = await core.deallocate(ALICE, app.uid);
    assert.equal(r.status, 'DEALLOCATE');
    assert.equal(await core.metadataFor({ kind: 'address', address: res.ipaddr }), null, 'forgotten as soon as deallocate returns');
    assert.equal(await core.metadataFor({ kind: 'hwaddr', hwaddr: res.hwaddr }), null);
    await waitStatus(core, app.uid, 'DEALLOCATED');
    assert.equal(await driver.status(res.hwaddr), 'NONE', 'the driver really removed it');
    await assert.rejects(core.getResource(ALICE, app.uid), isCode('NOT_FOUND'));
    const states = (await core.listStates(ALICE, app.uid)).items;
    assert.deepEqual(
      states.map((s) => s.status),
      ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
    );
    assert.match(states[2]!.description, /allocated by test on node node-1/);
  });

  test('labels: driver validation names the field and definition; unknown driver; versions; soft delete', async () => {
    const { core } = n;
    await assert.rejects(
      core.createLabel(
        ALICE,
        testLabel('bad', {
          definitions: [
            { driver: 'test', requirements: { cpu: 1, ram: 1 } },
            { driver: 'test', options: { fail_allocate: 999 }, requirements: { cpu: 1, ram: 1 } },
          ],
        }),
      ),
      (e: unknown) =>
        isCode('INVALID_DEFINITION')(e) &&
        (e as CoreError).message.includes('definitions[1]') &&
        (e as CoreError).message.includes('options.fail_allocate') &&
        (e as { details: { definition_index: number; field: string } }).details.definition_index === 1 &&
        (e as { details: { field: string } }).details.field === 'definitions[1].options.fail_allocate',
    );
    await assert.rejects(
      core.createLabel(ALICE, testLabel('bad', { definitions: [{ driver: 'test', requirements: { cpu: 0, ram: 1 } }] })),
      (e: unknown) => isCode('INVALID_DEFINITION')(e) && /requirements\.cpu/.test((e as Error).message),
    );
    await assert.rejects(
      core.createLabel(ALICE, testLabel('bad', { definitions: [{ driver: 'warp', requirements: { cpu: 1, ram: 1 } }] })),
      (e: unknown) => isCode('UNKNOWN_DRIVER')(e) && /"warp"/.test((e as Error).message) && /available: test/.test((e as Error).message),
    );
    await assert.rejects(
      core.createLabel(ALICE, { ...testLabel('bad'), lifetime: '2 hours' }),
      (e: unknown) => isCode('INVALID')(e) && /^lifetime:/.test((e as Error).message),
    );
    assert.equal((await core.listLabels(ADMIN, { name: 'bad' })).items.length, 0, 'nothing stored');

    const v1 = await core.createLabel(ALICE, testLabel('ver'));
    const v2 = await core.createLabel(ALICE, testLabel('ver', { cpu: 2 }));
    assert.deepEqual([v1.version, v2.version], [1, 2]);
    const a1 = await core.createApplication(ALICE, { label: 'ver', version: 1 });
    assert.equal(a1.label_uid, v1.uid);
    const latest = await core.createApplication(ALICE, { label: 'ver' });
    assert.equal(latest.label_uid, v2.uid);
    await waitStatus(core, latest.uid, 'ALLOCATED');

    await assert.rejects(core.deleteLabel(BOB, v2.uid), isCode('FORBIDDEN'));
    await core.deleteLabel(ALICE, v2.uid);
    await assert.rejects(core.getLabel(ALICE, v2.uid), isCode('NOT_FOUND'));
    const again = await core.createApplication(ALICE, { label: 'ver' });
    assert.equal(again.label_uid, v1.uid, 'latest is now version 1');
    await assert.rejects(core.createApplication(ALICE, { label: 'ver', version: 2 }), isCode('NOT_FOUND'));
    // existing applications of the deleted version keep working
    assert.equal((await core.getState(ALICE, latest.uid)).status, 'ALLOCATED');
    await core.deallocate(ALICE, latest.uid);
    await waitStatus(core, latest.uid, 'DEALLOCATED');
    for (const a of [a1, again]) {
      await waitStatus(core, a.uid, 'ALLOCATED');
      await core.deallocate(ALICE, a.uid);
      await waitStatus(core, a.uid, 'DEALLOCATED');
    }
  });

  test('a request bigger than every node is refused with UNSATISFIABLE', async () => {
    const { core } = n;
    await core.createLabel(ALICE, testLabel('huge', { cpu: 64 }));
    await assert.rejects(
      core.createApplication(ALICE, { label: 'huge' }),
      (e: unknown) => isCode('UNSATISFIABLE')(e) && /cpu 64/.test((e as Error).message) && /node-1: cpu 4/.test((e as Error).message),
    );
    assert.equal((await core.listApplications(ADMIN, { status: 'NEW' })).items.length, 0);
  });

  test('retries over definitions: a failing definition falls back to the next one', async () => {
    const { core } = n;
    await core.createLabel(
      ALICE,
      testLabel('fallback', {
        definitions: [
          { driver: 'test', options: { fail_allocate: 255 }, requirements: { cpu: 1, ram: 1 } },
          { driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } },
        ],
      }),
    );
    const app = await core.createApplication(ALICE, { label: 'fallback' });
    await waitStatus(core, app.uid, 'ALLOCATED');
    assert.equal((await core.getResource(ALICE, app.uid)).definition_index, 1);
    const states = (await core.listStates(ALICE, app.uid)).items;
    assert.deepEqual(
      states.map((s) => s.status),
      ['NEW', 'ELECTED', 'NEW', 'ELECTED', 'ALLOCATED'],
    );
    assert.match(states[2]!.description, /definition 0 \(test\) failed: INJECTED: injected failure: fail_allocate=255/);
    assert.match(states[2]!.description, /trying definition 1/);
    await core.deallocate(ALICE, app.uid);
    await waitStatus(core, app.uid, 'DEALLOCATED');
  });

  test('retries exhausted: ERROR with the driver reason, capacity released', async () => {
    const { core, store } = n;
    await core.createLabel(ALICE, testLabel('doomed', { options: { fail_allocate: 255 } }));
    const app = await core.createApplication(ALICE, { label: 'doomed' });
    const why = await waitStatus(core, app.uid, 'ERROR');
    assert.match(why, /allocation failed 3 times/);
    assert.match(why, /injected failure: fail_allocate=255/);
    const states = (await core.listStates(ALICE, app.uid)).items;
    assert.equal(states.filter((s) => s.status === 'ELECTED').length, 3);
    assert.equal((await store.usage('node-1')).cpu, 0);
    await assert.rejects(core.deallocate(ALICE, app.uid), isCode('CONFLICT'));
  });

  test('deallocate while NEW: straight to DEALLOCATED, the driver never called', async () => {
    const { core, driver } = n;
    await core.setMaintenance(ADMIN, true);
    try {
      await core.createLabel(ALICE, testLabel('waiting'));
      const app = await core.createApplication(ALICE, { label: 'waiting' });
      const before = (await driver.listResources()).length;
      assert.deepEqual(await core.deallocate(ALICE, app.uid), { status: 'DEALLOCATED' });
      assert.deepEqual(await core.deallocate(ALICE, app.uid), { status: 'DEALLOCATED' }, 'twice is fine');
      const states = (await core.listStates(ALICE, app.uid)).items;
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'DEALLOCATED'],
      );
      assert.equal((await driver.listResources()).length, before);
    } finally {
      await core.setMaintenance(ADMIN, false);
    }
  });

  test('deallocate while ELECTED (allocation in flight): the allocation is undone', async () => {
    const { core, driver } = n;
    // a slow allocation leaves a wide window; the request goes out the moment ELECTED is seen
    await core.createLabel(ALICE, testLabel('slow', { options: { delay_allocate: 2000 } }));
    let requested: Promise<{ status: string }> | undefined;
    let uid = '';
    const off = core.subscribe(ADMIN, undefined, (e) => {
      if (e.application_uid === uid && e.status === 'ELECTED' && !requested) requested = core.deallocate(ALICE, uid);
    }); // live at once: a started core's event feed is pinned
    const app = await core.createApplication(ALICE, { label: 'slow' });
    uid = app.uid;
    await waitFor('the deallocation request', () => requested);
    off();
    assert.deepEqual(await requested, { status: 'DEALLOCATE' });
    assert.deepEqual(await core.deallocate(ALICE, app.uid), { status: 'DEALLOCATE' }, 'twice is fine');
    const why = await waitStatus(core, app.uid, 'DEALLOCATED');
    assert.match(why, /allocation undone/);
    const states = (await core.listStates(ALICE, app.uid)).items;
    assert.ok(!states.some((s) => s.status === 'ALLOCATED'), 'never reported ALLOCATED');
    assert.deepEqual(await driver.listResources(), [], 'nothing left in the driver');
    assert.equal(await core.metadataFor({ kind: 'address', address: '127.0.0.1' }), null);
  });

  test('deallocation is retried with backoff until the driver succeeds', async () => {
    // a driver whose deallocate fails twice (50% injection with a scripted random source), then works
    const seq = [0, 0, 0.99, 0.99, 0.99, 0.99];
    await alone({ name: 'flaky', driverOptions: { random: () => seq.shift() ?? 0.99 } }, async (m) => {
      await m.core.createLabel(ALICE, testLabel('flaky', { options: { fail_deallocate: 50 } }));
      const app = await m.core.createApplication(ALICE, { label: 'flaky' });
      await waitStatus(m.core, app.uid, 'ALLOCATED');
      const res = await m.core.getResource(ALICE, app.uid);
      await m.core.deallocate(ALICE, app.uid);
      await waitStatus(m.core, app.uid, 'DEALLOCATED');
      assert.equal(await m.driver.status(res.hwaddr), 'NONE');
      const metrics = await m.registry.getSingleMetricAsString('shoal_deallocations_total');
      assert.match(metrics, /outcome="retry"} 2/);
      assert.match(metrics, /outcome="success"} 1/);
    });
  });

  test('deallocation that keeps failing ends in ERROR with the reason', async () => {
    await alone({ name: 'broken', limits: { deallocateRetries: 3 } }, async (m) => {
      await m.core.createLabel(ALICE, testLabel('broken', { options: { fail_deallocate: 255 } }));
      const app = await m.core.createApplication(ALICE, { label: 'broken' });
      await waitStatus(m.core, app.uid, 'ALLOCATED');
      await m.core.deallocate(ALICE, app.uid);
      const why = await waitStatus(m.core, app.uid, 'ERROR');
      assert.match(why, /deallocation failed 3 times: INJECTED: injected failure: fail_deallocate=255/);
    });
  });

  test('an allocation that takes too long counts as failed, and what it makes later is removed', async () => {
    await alone({ name: 'hung', limits: { allocateTimeoutMs: 100, allocateRetries: 1 } }, async (m) => {
      await m.core.createLabel(ALICE, testLabel('hung', { options: { delay_allocate: 500 } }));
      const app = await m.core.createApplication(ALICE, { label: 'hung' });
      const why = await waitStatus(m.core, app.uid, 'ERROR');
      assert.match(why, /allocate on test did not finish within 100 ms/);
      // the allocation finishes after ~500 ms anyway; the core then deallocates what it made
      await waitFor('the late resource to be removed', async () =>
        /outcome="success"} 1/.test(await m.registry.getSingleMetricAsString('shoal_deallocations_total')),
      );
      assert.deepEqual(await m.driver.listResources(), []);
      assert.equal((await m.store.usage(m.name)).cpu, 0);
    });
  });

  test('lifetimes: label, application override, node default; expiry deallocates', async () => {
    const { core } = n;
    await core.createLabel(ALICE, testLabel('short', { lifetime: '300ms' }));
    const a = await core.createApplication(ALICE, { label: 'short' });
    const b = await core.createApplication(ALICE, { label: 'short', lifetime: '1d' });
    await waitStatus(core, b.uid, 'ALLOCATED');
    const ra = await waitFor('resource of a', () => core.getResource(ALICE, a.uid).catch(() => undefined));
    const rb = await core.getResource(ALICE, b.uid);
    assert.ok(ra.expires_at && Date.parse(ra.expires_at) - Date.parse(ra.created_at) <= 300);
    assert.ok(rb.expires_at && Date.parse(rb.expires_at) - Date.parse(rb.created_at) > 86_000_000);
    const why = await waitStatus(core, a.uid, 'DEALLOCATED');
    assert.match(why, /deallocated/);
    const states = (await core.listStates(ALICE, a.uid)).items;
    assert.match(states.find((s) => s.status === 'DEALLOCATE')!.description, /lifetime ended/);
    assert.equal((await core.getState(ALICE, b.uid)).status, 'ALLOCATED');
    await core.deallocate(ALICE, b.uid);
    await waitStatus(core, b.uid, 'DEALLOCATED');

    await alone({ name: 'defaults', defaultLifetime: '200ms' }, async (d) => {
      await d.core.createLabel(ALICE, testLabel('nolife'));
      const c = await d.core.createApplication(ALICE, { label: 'nolife' });
      await waitStatus(d.core, c.uid, 'DEALLOCATED');
      assert.ok((await d.core.listStates(ALICE, c.uid)).items.some((s) => /lifetime ended/.test(s.description)));
    });
  });

  test('wait_timeout: an application no node takes in time goes to ERROR saying why', async () => {
    await alone({ name: 'tiny', cpu: 1, ram: 8 }, async (w) => {
      await w.core.createLabel(ALICE, testLabel('one'));
      const holder = await w.core.createApplication(ALICE, { label: 'one' });
      await waitStatus(w.core, holder.uid, 'ALLOCATED');
      const late = await w.core.createApplication(ALICE, { label: 'one', wait_timeout: '300ms' });
      const why = await waitStatus(w.core, late.uid, 'ERROR');
      assert.match(why, /wait_timeout of 300ms/);
      await w.core.deallocate(ALICE, holder.uid);
      await waitStatus(w.core, holder.uid, 'DEALLOCATED');
    });
  });

  test('tasks: snapshot NOW, snapshot at DEALLOCATE, refused when not allocated', async () => {
    const { core } = n;
    await core.createLabel(ALICE, testLabel('snap'));
    await core.setMaintenance(ADMIN, true);
    const app = await core.createApplication(ALICE, { label: 'snap' });
    await assert.rejects(core.createTask(ALICE, app.uid, { task: 'snapshot', when: 'NOW' }), isCode('CONFLICT'));
    await core.setMaintenance(ADMIN, false);
    await waitStatus(core, app.uid, 'ALLOCATED');
    const now = await core.createTask(ALICE, app.uid, { task: 'snapshot', options: { full: true } });
    assert.equal(now.status, 'PENDING');
    const atEnd = await core.createTask(ALICE, app.uid, { task: 'snapshot', when: 'DEALLOCATE' });
    const done = await waitFor('NOW task done', async () =>
      (await core.listTasks(ALICE, app.uid)).items.find((t) => t.uid === now.uid && t.status === 'DONE'),
    );
    assert.match(done.result, /"full":true/);
    assert.equal((await core.listTasks(ALICE, app.uid)).items.find((t) => t.uid === atEnd.uid)?.status, 'PENDING');
    await core.deallocate(ALICE, app.uid);
    await waitStatus(core, app.uid, 'DEALLOCATED');
    const end = (await core.listTasks(ALICE, app.uid)).items.find((t) => t.uid === atEnd.uid);
    assert.equal(end?.status, 'DONE', 'ran before the driver deallocated');
    assert.match(end.result, /"full":false/);
    await assert.rejects(core.createTask(ALICE, app.uid, { task: 'snapshot', when: 'DEALLOCATE' }), isCode('CONFLICT'));
  });

  test('Meta API: a neighbour-table entry with another MAC for the address gets nothing', async () => {
    const arp = join(await h.tempDir(), 'arp');
    await writeFile(arp, 'IP address       HW type     Flags       HW address            Mask     Device\n');
    await alone({ name: 'arp', arpTablePath: arp }, async (m) => {
      await m.core.createLabel(ALICE, testLabel('arp'));
      const app = await m.core.createApplication(ALICE, { label: 'arp' });
      await waitStatus(m.core, app.uid, 'ALLOCATED');
      const res = await m.core.getResource(ALICE, app.uid);
      const header = 'IP address       HW type     Flags       HW address            Mask     Device\n';
      await writeFile(arp, `${header}${res.ipaddr}    0x1         0x2         ${res.hwaddr}     *        br0\n`);
      assert.deepEqual(await m.core.metadataFor({ kind: 'address', address: res.ipaddr }), res.metadata, 'same MAC: fine');
      await writeFile(arp, `${header}${res.ipaddr}    0x1         0x2         02:de:ad:be:ef:00     *        br0\n`);
      assert.equal(await m.core.metadataFor({ kind: 'address', address: res.ipaddr }), null, 'another MAC: nothing');
      await m.core.deallocate(ALICE, app.uid);
      await waitStatus(m.core, app.uid, 'DEALLOCATED');
    });
  });

  test('metrics are registered and counted', async () => {
    const text = await n.registry.metrics();
    for (const name of [
      'shoal_allocations_total',
      'shoal_allocation_seconds',
      'shoal_deallocations_total',
      'shoal_queue_length',
      'shoal_node_capacity',
      'shoal_node_used',
    ]) {
      assert.ok(text.includes(name), name);
    }
    assert.match(text, /shoal_allocations_total\{driver="test",outcome="success"\} [1-9]/);
    assert.match(text, /shoal_node_capacity\{node="node-1",resource="cpu"\} 4/);
  });
});
