import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { greedyClaim, makeLabel, newApp, nodeRow, now, storeForSuite } from '../store-test-kit.js';
import type { ApplicationRow } from '../store.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`applications on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('applications: NEW with a state row; conditional transitions; resource rows; history in id order', async () => {
      const label = await makeLabel(db.store, 'apps');
      const { app, event } = await db.store.insertApplication(newApp(label.uid), 'waiting for a node');
      assert.equal(app.status, 'NEW');
      assert.equal(app.seq, event.id);
      assert.equal(event.status, 'NEW');
      await db.store.upsertNode(nodeRow('n1'));

      // wrong "from" → not applied, nothing appended
      const [miss] = await db.store.transition([{ uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'x', at: now() }]);
      assert.equal(miss, null);
      assert.equal((await db.store.listStates(app.uid)).length, 1);

      const [claimed] = await db.store.claim(greedyClaim('n1', 100, 1));
      assert.equal(claimed?.app.uid, app.uid);
      assert.equal(claimed?.app.status, 'ELECTED');
      assert.equal(claimed?.app.node, 'n1');

      // only the electing node may complete it
      const [other] = await db.store.transition([
        { uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'x', at: now(), onlyNode: 'n2' },
      ]);
      assert.equal(other, null);
      const res = {
        application_uid: app.uid,
        owner: 'alice',
        node: 'n1',
        driver: 'test',
        definition_index: 0,
        hwaddr: '02:00:00:00:00:01',
        ipaddr: '127.1.2.3',
        metadata: { A: '1', JOB: '1' },
        expires_at: null,
        created_at: now(),
      };
      const [ok] = await db.store.transition([
        { uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'allocated', at: now(), onlyNode: 'n1', insertResource: res },
      ]);
      assert.equal(ok?.status, 'ALLOCATED');
      assert.deepEqual(await db.store.getResource(app.uid), res);
      assert.ok((await db.store.knownHwaddrs()).has('02:00:00:00:00:01'));

      await db.store.insertTask({
        uid: randomUUID(),
        application_uid: app.uid,
        owner: 'alice',
        task: 'snapshot',
        options: { full: true },
        when: 'DEALLOCATE',
        status: 'PENDING',
        result: '',
        created_at: now(),
        updated_at: now(),
      });
      assert.equal((await db.store.pendingTasks('n1', 'DEALLOCATE')).length, 1);
      assert.equal((await db.store.pendingTasks('n2', 'DEALLOCATE')).length, 0);

      const [, done] = await db.store.transition([
        { uid: app.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'requested', at: now() },
        {
          uid: app.uid,
          from: ['DEALLOCATE'],
          to: 'DEALLOCATED',
          description: 'gone',
          at: now(),
          deleteResource: true,
          failPendingTasks: 'skipped',
        },
      ]);
      assert.equal(done?.status, 'DEALLOCATED');
      assert.equal(await db.store.getResource(app.uid), undefined);
      const [task] = await db.store.listTasks(app.uid);
      assert.equal(task?.status, 'FAILED');
      assert.equal(task?.result, 'skipped');

      const states = await db.store.listStates(app.uid);
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
      );
      for (let i = 1; i < states.length; i++) assert.ok(states[i]!.id > states[i - 1]!.id);
      const final = await db.store.getApplication(app.uid);
      assert.equal(final?.status, 'DEALLOCATED');
      assert.equal(final?.status_description, 'gone');
    });

    test('timeouts: waitExpired and expiredResources', async () => {
      const label = await makeLabel(db.store, 'timeouts');
      await db.store.upsertNode(nodeRow('tnode'));
      const past = new Date(Date.now() - 1000).toISOString();
      const future = new Date(Date.now() + 60_000).toISOString();
      const w1 = (await db.store.insertApplication(newApp(label.uid, 'alice', { wait_deadline: past }), 'new')).app;
      const w2 = (await db.store.insertApplication(newApp(label.uid, 'alice', { wait_deadline: future }), 'new')).app;
      const expired = await db.store.waitExpired(now(), 100);
      assert.ok(expired.some((a) => a.uid === w1.uid));
      assert.ok(!expired.some((a) => a.uid === w2.uid));
      await db.store.transition([
        { uid: w1.uid, from: ['NEW'], to: 'ERROR', description: 'waited too long', at: now() },
        { uid: w2.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() },
      ]);

      const r = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      await db.store.claim(greedyClaim('tnode', 10, 1));
      await db.store.transition([
        {
          uid: r.uid,
          from: ['ELECTED'],
          to: 'ALLOCATED',
          description: 'ok',
          at: now(),
          insertResource: {
            application_uid: r.uid,
            owner: 'alice',
            node: 'tnode',
            driver: 'test',
            definition_index: 0,
            hwaddr: 'hw-expire',
            ipaddr: '',
            metadata: {},
            expires_at: past,
            created_at: now(),
          },
        },
      ]);
      assert.deepEqual(
        (await db.store.expiredResources('tnode', now(), 10)).map((x) => x.application_uid),
        [r.uid],
      );
      assert.equal((await db.store.expiredResources('other', now(), 10)).length, 0);
      await db.store.transition([{ uid: r.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'expired', at: now() }]);
      assert.equal((await db.store.expiredResources('tnode', now(), 10)).length, 0, 'only ALLOCATED ones');
    });

    test('concurrent transactions: one failing does not take the others down; ids stay contiguous', async () => {
      const label = await makeLabel(db.store, 'group');
      await db.store.upsertNode(nodeRow('gnode'));
      const x = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      await db.store.claim(greedyClaim('gnode', 100, 1));
      const res = {
        application_uid: x.uid,
        owner: 'alice',
        node: 'gnode',
        driver: 'test',
        definition_index: 0,
        hwaddr: 'hw-group',
        ipaddr: '',
        metadata: {},
        expires_at: null,
        created_at: now(),
      };
      await db.store.transition([{ uid: x.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'ok', at: now(), insertResource: res }]);
      const start = await db.store.maxEventId();
      const seen: number[] = [];
      const off = db.store.onSignal((s) => {
        if (s.kind === 'events' && s.events) seen.push(...s.events.map((e) => e.id));
      });
      // submitted in the same turn: they share a commit where the dialect groups them
      const results = await Promise.allSettled([
        db.store.insertApplication(newApp(label.uid), 'new'),
        db.store.insertApplication(newApp(label.uid), 'new'),
        // a second resource row for x: a unique violation
        db.store.transition([{ uid: x.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'dup', at: now(), insertResource: res }]),
        db.store.insertApplication(newApp(label.uid), 'new'),
      ]);
      off();
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal((await db.store.getApplication(x.uid))?.status, 'ALLOCATED', 'the failed transition left nothing behind');
      assert.deepEqual(
        (await db.store.listStates(x.uid)).map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED'],
      );
      assert.equal(await db.store.maxEventId(), start + 3);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        [start + 1, start + 2, start + 3],
      );
      const seqs = results
        .filter((r) => r.status === 'fulfilled')
        .map((r) => (r as PromiseFulfilledResult<{ app: ApplicationRow }>).value.app.seq);
      assert.equal(new Set(seqs).size, 3, 'distinct FIFO positions');
      await db.store.transition([{ uid: x.uid, from: ['ALLOCATED'], to: 'ERROR', description: 'x', at: now(), deleteResource: true }]);
      const fresh = await db.store.listApplications({ limit: 10, status: 'NEW' });
      await db.store.transition(fresh.map((a) => ({ uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() })));
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
