import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, test } from 'node:test';
import type { ApplicationStatus } from '../model/index.js';
import type { Transition } from '../store/store.js';
import { FailingStore, type TestDialect } from '../store/testing/index.js';
import { MOVE_ATTEMPTS } from './lifecycle/state-moves.js';
import { ADMIN, ALICE, Harness, testLabel, waitFor, waitForEvent, type NodeSpec, type TestNode } from './testing/core-harness.js';

/**
 * The lifecycle driven through store failures (FailingStore over a real database): a state change
 * that fails and is retried, an allocation that cannot be recorded, a commit whose answer is lost,
 * deallocation, tasks and lifetimes. After each: no resource the store does not know (the test
 * driver's files and listResources), no application stuck, no double allocation.
 */

const to = (status: ApplicationStatus) => (ts: readonly Transition[]) => ts.some((t) => t.to === status);

async function onNode(kind: TestDialect, spec: NodeSpec, fn: (n: TestNode, f: FailingStore) => Promise<void>): Promise<void> {
  const h = await Harness.create(kind);
  let f: FailingStore | undefined;
  try {
    const n = await h.node({ ...spec, wrapStore: (s) => (f = new FailingStore(s)).store });
    await n.core.createLabel(ALICE, testLabel('fl', { lifetime: spec.defaultLifetime }));
    await fn(n, f!);
  } finally {
    await h.close();
  }
}

/** The driver holds exactly the resources the store records for this node (by file and by listResources). */
async function assertNoLeak(n: TestNode): Promise<string[]> {
  const recorded = (await n.store.listResources({ limit: 1000, node: n.name })).map((r) => r.hwaddr).sort();
  assert.deepEqual((await n.driver.listResources()).sort(), recorded, 'the driver holds what the store records');
  const files = (await readdir(n.driver.resourcesDir)).filter((f) => f.endsWith('.json'));
  assert.equal(files.length, recorded.length, `resource files: ${files.join(', ')}`);
  return recorded;
}

async function statuses(n: TestNode, uid: string): Promise<ApplicationStatus[]> {
  return (await n.core.listStates(ADMIN, uid)).items.map((s) => s.status);
}

const count = (xs: readonly string[], x: string) => xs.filter((y) => y === x).length;

/** Deallocates `uid` and checks it ends DEALLOCATED with nothing left in the driver. */
async function deallocateAndCheck(n: TestNode, uid: string): Promise<void> {
  await n.core.deallocate(ALICE, uid);
  await waitForEvent(n.core, uid, 'DEALLOCATED');
  assert.deepEqual(await assertNoLeak(n), []);
}

describe('the lifecycle through store failures', { concurrency: true }, () => {
  for (const kind of ['sqlite', 'postgres'] as const) {
    test(`${kind}: recording ALLOCATED fails once before it runs → retried, ALLOCATED once, nothing leaked`, async () => {
      await onNode(kind, {}, async (n, f) => {
        const inj = f.fail('transition', { when: 'before', match: to('ALLOCATED') });
        const app = await n.core.createApplication(ALICE, { label: 'fl' });
        await waitForEvent(n.core, app.uid, 'ALLOCATED');
        await inj.exhausted;
        const [made] = inj.failedCalls[0]![0].filter((t) => t.to === 'ALLOCATED').map((t) => t.insertResource!.hwaddr);
        assert.deepEqual(await assertNoLeak(n), [made], 'the resource of the failed try is the one recorded');
        assert.deepEqual(await statuses(n, app.uid), ['NEW', 'ELECTED', 'ALLOCATED']);
        await deallocateAndCheck(n, app.uid);
      });
    });

    test(`${kind}: recording ALLOCATED commits but its answer is lost → ALLOCATED once, known to the Meta API, nothing leaked`, async () => {
      await onNode(kind, {}, async (n, f) => {
        const inj = f.fail('transition', { when: 'after', match: to('ALLOCATED') });
        const app = await n.core.createApplication(ALICE, { label: 'fl', metadata: { JOB: 'lost-answer' } });
        await waitForEvent(n.core, app.uid, 'ALLOCATED');
        await inj.exhausted;
        const [hwaddr] = await assertNoLeak(n);
        assert.deepEqual(await statuses(n, app.uid), ['NEW', 'ELECTED', 'ALLOCATED'], 'no duplicate state row');
        // the allocation took the commit as its own: the resource is served, not undone
        const meta = await waitFor(
          'the Meta API to know the resource',
          async () => (await n.core.metadataFor({ kind: 'hwaddr', hwaddr: hwaddr! })) ?? undefined,
        );
        assert.equal(meta?.JOB, 'lost-answer');
        assert.equal((await n.core.getState(ADMIN, app.uid)).status, 'ALLOCATED');
        await deallocateAndCheck(n, app.uid);
      });
    });
  }

  test('recording ALLOCATED fails every try → the resource is removed, the application is requeued and allocated once', async () => {
    await onNode('sqlite', {}, async (n, f) => {
      const inj = f.fail('transition', { when: 'before', times: MOVE_ATTEMPTS, match: to('ALLOCATED') });
      const app = await n.core.createApplication(ALICE, { label: 'fl' });
      await inj.exhausted;
      const first = inj.failedCalls[0]![0].find((t) => t.to === 'ALLOCATED')!.insertResource!.hwaddr;
      // the heartbeat finds the ELECTED application nothing allocates and requeues it
      await waitForEvent(n.core, app.uid, 'ALLOCATED');
      const states = (await n.core.listStates(ADMIN, app.uid)).items;
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'ELECTED', 'NEW', 'ELECTED', 'ALLOCATED'],
      );
      assert.match(states[2]!.description, /was interrupted/);
      assert.equal(await n.driver.status(first), 'NONE', 'the resource that could not be recorded was removed');
      const [kept] = await assertNoLeak(n);
      assert.notEqual(kept, first);
      await deallocateAndCheck(n, app.uid);
    });
  });

  for (const when of ['before', 'after'] as const) {
    test(`recording DEALLOCATED fails (${when}) → retried, DEALLOCATED once, the driver holds nothing`, async () => {
      await onNode('sqlite', {}, async (n, f) => {
        const app = await n.core.createApplication(ALICE, { label: 'fl' });
        await waitForEvent(n.core, app.uid, 'ALLOCATED');
        const inj = f.fail('transition', { when, match: to('DEALLOCATED') });
        await deallocateAndCheck(n, app.uid);
        await inj.exhausted;
        assert.deepEqual(await statuses(n, app.uid), ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED']);
      });
    });
  }

  test('recording DEALLOCATED fails every try → the work scan resumes the deallocation; it ends DEALLOCATED, not ERROR', async () => {
    await onNode('sqlite', {}, async (n, f) => {
      const app = await n.core.createApplication(ALICE, { label: 'fl' });
      await waitForEvent(n.core, app.uid, 'ALLOCATED');
      const inj = f.fail('transition', { when: 'before', times: MOVE_ATTEMPTS, match: to('DEALLOCATED') });
      await deallocateAndCheck(n, app.uid);
      await inj.exhausted;
      const s = await statuses(n, app.uid);
      assert.equal(count(s, 'DEALLOCATED'), 1);
      assert.equal(count(s, 'ERROR'), 0);
    });
  });

  for (const when of ['before', 'after'] as const) {
    test(`a failing driver: recording NEW and ERROR fails (${when}) → ERROR once with the driver's reason, nothing leaked`, async () => {
      await onNode('sqlite', {}, async (n, f) => {
        await n.core.createLabel(ALICE, testLabel('broken', { options: { fail_allocate: 255 } }));
        const requeue = f.fail('transition', { when, match: to('NEW') });
        const give = f.fail('transition', { when, match: to('ERROR') });
        const app = await n.core.createApplication(ALICE, { label: 'broken' });
        const end = await waitForEvent(n.core, app.uid, ['ERROR', 'ALLOCATED', 'DEALLOCATED']);
        await Promise.all([requeue.exhausted, give.exhausted]);
        assert.equal(end.status, 'ERROR');
        assert.match(end.description, /allocation failed 3 times; last: definition 0 \(test\): INJECTED/);
        const s = await statuses(n, app.uid);
        assert.equal(count(s, 'ERROR'), 1, s.join(' '));
        assert.equal((await n.core.getState(ADMIN, app.uid)).status, 'ERROR');
        assert.deepEqual(await assertNoLeak(n), []);
      });
    });
  }

  test('tasks: claiming fails → picked up again and DONE; recording DONE fails → FAILED naming why, never left RUNNING', async () => {
    await onNode('sqlite', {}, async (n, f) => {
      const app = await n.core.createApplication(ALICE, { label: 'fl' });
      await waitForEvent(n.core, app.uid, 'ALLOCATED');
      const claim = f.fail('updateTask', { when: 'before', match: (_uid, _from, status) => status === 'RUNNING' });
      const a = await n.core.createTask(ALICE, app.uid, { task: 'snapshot' });
      await claim.exhausted;
      const done = await waitFor('the task to end', async () =>
        (await n.core.listTasks(ALICE, app.uid)).items.find((t) => t.uid === a.uid && (t.status === 'DONE' || t.status === 'FAILED')),
      );
      assert.equal(done.status, 'DONE');

      const record = f.fail('updateTask', { when: 'before', match: (_uid, _from, status) => status === 'DONE' });
      const b = await n.core.createTask(ALICE, app.uid, { task: 'snapshot' });
      await record.exhausted;
      const failed = await waitFor('the task to end', async () =>
        (await n.core.listTasks(ALICE, app.uid)).items.find((t) => t.uid === b.uid && t.status !== 'PENDING' && t.status !== 'RUNNING'),
      );
      assert.equal(failed.status, 'FAILED');
      assert.match(failed.result, /injected store failure: updateTask/);
      await deallocateAndCheck(n, app.uid);
    });
  });

  test('lifetimes: the expiry check and the DEALLOCATE change fail once → retried; the resource ends DEALLOCATED', async () => {
    await onNode('sqlite', { defaultLifetime: '300ms' }, async (n, f) => {
      const check = f.fail('expiredResources', { when: 'before' });
      const move = f.fail('transition', { when: 'before', match: to('DEALLOCATE') });
      const app = await n.core.createApplication(ALICE, { label: 'fl' });
      await waitForEvent(n.core, app.uid, 'DEALLOCATED');
      await Promise.all([check.exhausted, move.exhausted]);
      const states = (await n.core.listStates(ADMIN, app.uid)).items;
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
      );
      assert.match(states[3]!.description, /lifetime ended/);
      assert.deepEqual(await assertNoLeak(n), []);
    });
  });
});
