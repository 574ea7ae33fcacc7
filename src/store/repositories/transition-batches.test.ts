import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { greedyClaim, makeLabel, newApp, nodeRow, now, storeForSuite } from '../store-test-kit.js';
import type { ClaimChoice, ClaimRequest, ResourceRow, Store, Transition } from '../store.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function resource(uid: string, n: number): ResourceRow {
  return {
    application_uid: uid,
    owner: 'alice',
    node: 'n1',
    driver: 'test',
    definition_index: 0,
    hwaddr: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`,
    ipaddr: `127.0.0.${n + 1}`,
    metadata: {},
    expires_at: null,
    created_at: now(),
  };
}

/** `n` applications of a fresh label, ELECTED by n1 (in creation order). */
async function elected(store: Store, name: string, n: number): Promise<string[]> {
  const label = await makeLabel(store, name);
  const uids: string[] = [];
  for (let i = 0; i < n; i++) uids.push((await store.insertApplication(newApp(label.uid), 'waiting')).app.uid);
  const claimed = await store.claim(greedyClaim('n1', 1000));
  assert.deepEqual(
    claimed.map((c) => c.app.uid).filter((u) => uids.includes(u)),
    uids,
  );
  return uids;
}

function suite(kind: TestDialect): void {
  describe(`transition batches and claim batches on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('a batch applies each transition only where it still holds, with its own resource, result and event', async () => {
      const { store } = db;
      await store.upsertNode(nodeRow('n1'));
      const uids = await elected(store, 'batch', 12);
      // three of them are already ALLOCATED: the batch must not touch them again
      const early = uids.slice(0, 3);
      await store.transition(
        early.map((uid, k) => ({
          uid,
          from: ['ELECTED'],
          to: 'ALLOCATED',
          description: 'early',
          at: now(),
          insertResource: resource(uid, k),
        })),
      );
      const batch: Transition[] = uids.map((uid, k) => ({
        uid,
        from: ['ELECTED'],
        to: 'ALLOCATED',
        description: 'allocated',
        at: now(),
        onlyNode: 'n1',
        insertResource: resource(uid, 100 + k),
      }));
      const results = await store.transition(batch);
      results.forEach((r, k) => {
        if (k < 3) assert.equal(r, null, `${k} was ALLOCATED already`);
        else assert.equal(r?.application_uid, uids[k], `result ${k} is its own transition's`);
      });
      for (const [k, uid] of uids.entries()) {
        const res = await store.getResource(uid);
        assert.equal(res?.hwaddr, resource(uid, k < 3 ? k : 100 + k).hwaddr);
        const states = await store.listStates(uid);
        assert.deepEqual(
          states.map((s) => s.status),
          ['NEW', 'ELECTED', 'ALLOCATED'],
        );
        assert.equal(states[2]!.description, k < 3 ? 'early' : 'allocated');
      }
      const ids = results.filter((r) => r !== null).map((r) => r.id);
      assert.equal(new Set(ids).size, 9, 'one event each');

      // mixed shapes in one batch: a task fails and the resource goes only where asked
      const task = {
        uid: randomUUID(),
        application_uid: uids[4]!, // mixed[1]: the ERROR kind
        owner: 'alice',
        task: 'snapshot' as const,
        options: {},
        when: 'DEALLOCATE' as const,
        status: 'PENDING' as const,
        result: '',
        created_at: now(),
        updated_at: now(),
      };
      await store.insertTask(task);
      const mixed: Transition[] = uids
        .slice(3, 9)
        .map((uid, k) =>
          k % 2 === 0
            ? { uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'asked', at: now() }
            : { uid, from: ['ALLOCATED'], to: 'ERROR', description: 'broken', at: now(), deleteResource: true, failPendingTasks: 'gone' },
        );
      const out = await store.transition(mixed);
      assert.ok(out.every((r) => r !== null));
      for (const [k, t] of mixed.entries()) {
        assert.equal((await store.getApplication(t.uid))?.status, t.to);
        assert.equal((await store.getResource(t.uid)) === undefined, k % 2 === 1, `resource of ${k}`);
      }
      assert.deepEqual(await store.getTask(task.uid).then((t) => [t?.status, t?.result]), ['FAILED', 'gone']);
    });

    test('one application twice in a batch: the later transition sees the earlier one', async () => {
      const { store } = db;
      await store.upsertNode(nodeRow('n1'));
      const [uid] = await elected(store, 'twice', 1);
      const [a, b] = await store.transition([
        { uid: uid!, from: ['ELECTED'], to: 'DEALLOCATE', description: 'asked', at: now() },
        { uid: uid!, from: ['DEALLOCATE'], to: 'DEALLOCATED', description: 'done', at: now() },
      ]);
      assert.equal(a?.status, 'DEALLOCATE');
      assert.equal(b?.status, 'DEALLOCATED');
      assert.ok(b.id > a.id);
      assert.equal((await store.getApplication(uid!))?.status, 'DEALLOCATED');
    });

    test('ifStatusAt: a transition meant for one election leaves a later one alone', async () => {
      const { store } = db;
      await store.upsertNode(nodeRow('n1'));
      const [uid] = await elected(store, 'election', 1);
      const seen = (await store.getApplication(uid!))!.status_at;
      const [stale] = await store.transition([
        { uid: uid!, from: ['ELECTED'], to: 'NEW', description: 'stuck', at: now(), ifStatusAt: '2000-01-01T00:00:00.000Z' },
      ]);
      assert.equal(stale, null);
      assert.equal((await store.getApplication(uid!))?.status, 'ELECTED');
      const [hit] = await store.transition([
        { uid: uid!, from: ['ELECTED'], to: 'NEW', description: 'stuck', at: now(), ifStatusAt: seen },
      ]);
      assert.equal(hit?.status, 'NEW');
    });

    test('creations made together: FIFO positions and events in call order; a bad one fails alone', async () => {
      const { store } = db;
      const label = await makeLabel(store, 'together');
      const apps = Array.from({ length: 30 }, () => newApp(label.uid));
      const dup = { ...newApp(label.uid), uid: apps[7]!.uid }; // the same uid twice: its INSERT fails
      const calls = [...apps.slice(0, 10), dup, ...apps.slice(10)].map((a) => store.insertApplication(a, 'waiting'));
      const out = await Promise.allSettled(calls);
      assert.equal(out.filter((o) => o.status === 'rejected').length, 1, 'only the duplicate fails');
      assert.equal(out[10]!.status, 'rejected');
      const made = out.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      assert.deepEqual(
        made.map((m) => m.app.uid),
        apps.map((a) => a.uid),
      );
      for (let k = 1; k < made.length; k++) {
        assert.ok(made[k]!.app.seq > made[k - 1]!.app.seq, 'FIFO position in call order');
        assert.ok(made[k]!.event.id > made[k - 1]!.event.id, 'NEW events in call order');
      }
      for (const m of made) assert.equal((await store.getApplication(m.app.uid))?.seq, m.app.seq);
    });

    test('transition() calls made together each get their own results', async () => {
      const { store } = db;
      await store.upsertNode(nodeRow('n1'));
      const uids = await elected(store, 'calls', 6);
      const calls = uids.map((uid, k) =>
        store.transition([{ uid, from: [k % 2 === 0 ? 'ELECTED' : 'ALLOCATED'], to: 'DEALLOCATE', description: `call ${k}`, at: now() }]),
      );
      const out = await Promise.all(calls);
      out.forEach(([r], k) => {
        if (k % 2 === 0) assert.deepEqual([r?.application_uid, r?.description], [uids[k], `call ${k}`]);
        else assert.equal(r, null);
      });
    });

    test('a claim of picks of different kinds elects each with its own definition, size and description, in FIFO order', async () => {
      const { store } = db;
      await store.upsertNode(nodeRow('n2', { cpu: 100, ram: 100 }));
      const label = await makeLabel(store, 'kinds');
      const uids: string[] = [];
      for (let i = 0; i < 9; i++) uids.push((await store.insertApplication(newApp(label.uid), 'waiting')).app.uid);
      const request: ClaimRequest = {
        node: 'n2',
        at: now(),
        pageSize: 4,
        maxScan: 100,
        choose(candidates): ClaimChoice {
          const picks = candidates
            .filter((c) => uids.includes(c.uid))
            .map((c) => {
              const k = uids.indexOf(c.uid) % 3;
              return { uid: c.uid, driver: `d${k}`, definition_index: k, cpu: k + 1, ram: 2 * k + 1, description: `kind ${k}` };
            });
          return { picks, more: true };
        },
      };
      const claimed = await store.claim(request);
      assert.deepEqual(
        claimed.map((c) => c.app.uid),
        uids,
      );
      for (const [i, c] of claimed.entries()) {
        const k = i % 3;
        assert.deepEqual(
          [c.app.status, c.app.node, c.app.driver, c.app.definition_index, c.app.cpu, c.app.ram, c.app.status_description],
          ['ELECTED', 'n2', `d${k}`, k, k + 1, 2 * k + 1, `kind ${k}`],
        );
        assert.equal(c.event.application_uid, c.app.uid);
        if (i > 0) assert.ok(c.event.id > claimed[i - 1]!.event.id, 'events in FIFO order');
      }
      assert.deepEqual(await store.usage('n2').then((u) => [u.cpu, u.ram]), [3 * (1 + 2 + 3), 3 * (1 + 3 + 5)]);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
