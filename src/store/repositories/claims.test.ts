import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openStore } from '../open-store.js';
import { greedyClaim, makeLabel, newApp, nodeRow, now, storeForSuite } from '../store-test-kit.js';
import type { ApplicationRow, Store } from '../store.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`claims and re-election on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('claim: capacity accounting per node, freed capacity is reusable, FIFO order', async () => {
      const label = await makeLabel(db.store, 'cap');
      await db.store.upsertNode(nodeRow('capnode'));
      // drain whatever earlier tests left NEW
      const leftovers = await db.store.listApplications({ limit: 1000, status: 'NEW' });
      await db.store.transition(leftovers.map((a) => ({ uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() })));
      const apps: ApplicationRow[] = [];
      for (let i = 0; i < 6; i++) apps.push((await db.store.insertApplication(newApp(label.uid), 'new')).app);
      const first = await db.store.claim(greedyClaim('capnode', 4));
      assert.deepEqual(
        first.map((c) => c.app.uid),
        apps.slice(0, 4).map((a) => a.uid),
        'the four oldest, in order',
      );
      assert.deepEqual(await db.store.usage('capnode'), { cpu: 4, ram: 4, drivers: new Map([['test', { cpu: 4, ram: 4 }]]) });
      assert.equal((await db.store.claim(greedyClaim('capnode', 4))).length, 0, 'full');
      await db.store.transition([{ uid: apps[0]!.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'done', at: now() }]);
      const third = await db.store.claim(greedyClaim('capnode', 4));
      assert.deepEqual(
        third.map((c) => c.app.uid),
        [apps[4]!.uid],
      );
      assert.equal((await db.store.usageByNode()).get('capnode')?.cpu, 4);
      const counts = await db.store.countByStatus();
      assert.equal(counts.NEW, 1);
      assert.equal(counts.ELECTED, 4);
      // clean up for the next tests
      const mine = await db.store.applicationsOn('capnode', ['ELECTED']);
      await db.store.transition(mine.map((a) => ({ uid: a.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'x', at: now() })));
      await db.store.transition([{ uid: apps[5]!.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() }]);
    });

    test('concurrent claimers over one database: each app elected once, no node ever over capacity', async () => {
      const label = await makeLabel(db.store, 'race');
      const NODES = ['race-a', 'race-b'];
      const CAP = 5;
      const APPS = 120;
      for (const n of NODES) await db.store.upsertNode(nodeRow(n));
      const uids = new Set<string>();
      for (let i = 0; i < APPS; i++) uids.add((await db.store.insertApplication(newApp(label.uid), 'new')).app.uid);
      // four stores (separate connections), two per node name: the node row lock must hold them apart
      // five stores (four claimers and a monitor); if one cannot open, close the others so the file ends
      const opened = await Promise.allSettled([0, 1, 2, 3, 4].map(() => openStore(db.tdb.url)));
      const stores = opened.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      const refused = opened.find((o) => o.status === 'rejected');
      if (refused) {
        await Promise.all(stores.map((s) => s.close()));
        throw refused.reason;
      }
      const [monitor, ...claimers] = stores as [Store, ...Store[]];
      const violations: string[] = [];
      let running = true;
      const watch = (async () => {
        while (running) {
          const usage = await monitor.usageByNode();
          for (const n of NODES) {
            const u = usage.get(n)?.cpu ?? 0;
            if (u > CAP) violations.push(`${n} held ${u} > ${CAP}`);
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      try {
        const deadline = Date.now() + 60_000;
        await Promise.all(
          claimers.map(async (s, i) => {
            const node = NODES[i % 2]!;
            for (let round = 0; round < 10_000 && Date.now() < deadline; round++) {
              const got = await s.claim(greedyClaim(node, CAP));
              const held = (await s.usage(node)).cpu;
              if (held > CAP) violations.push(`${node} held ${held} after a claim`);
              if (got.length === 0) {
                const left = await s.countByStatus();
                if (!left.NEW && !left.ELECTED) return;
                await new Promise((r) => setTimeout(r, 1 + Math.random() * 3));
                continue;
              }
              await new Promise((r) => setTimeout(r, Math.random() * 3));
              await s.transition(
                got.map((c) => ({
                  uid: c.app.uid,
                  from: ['ELECTED'],
                  to: 'DEALLOCATED',
                  description: 'done',
                  at: now(),
                  onlyNode: node,
                })),
              );
            }
          }),
        );
      } finally {
        running = false;
        await watch;
        await Promise.all(stores.map((s) => s.close()));
      }
      assert.deepEqual(violations, []);
      for (const uid of uids) {
        const states = await db.store.listStates(uid);
        assert.deepEqual(
          states.map((s) => s.status),
          ['NEW', 'ELECTED', 'DEALLOCATED'],
          `app ${uid} elected exactly once`,
        );
      }
    });

    test('dead node: its ELECTED applications go back to NEW, unfinished deallocations end; a live node keeps its own', async () => {
      const label = await makeLabel(db.store, 'dead');
      const old = new Date(Date.now() - 60_000).toISOString();
      await db.store.upsertNode(nodeRow('dead-node', { heartbeat_at: old }));
      await db.store.upsertNode(nodeRow('live-node'));
      const a = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      const undone = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      const held = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      const claimed = await db.store.claim(greedyClaim('dead-node', 10, 3));
      assert.deepEqual(
        claimed.map((c) => c.app.uid),
        [a.uid, undone.uid, held.uid],
      );
      // `undone`: deallocation requested while allocating; `held`: allocated, then deallocation requested
      await db.store.transition([
        { uid: undone.uid, from: ['ELECTED'], to: 'DEALLOCATE', description: 'requested', at: now() },
        {
          uid: held.uid,
          from: ['ELECTED'],
          to: 'ALLOCATED',
          description: 'ok',
          at: now(),
          insertResource: {
            application_uid: held.uid,
            owner: 'alice',
            node: 'dead-node',
            driver: 'test',
            definition_index: 0,
            hwaddr: 'hw-held',
            ipaddr: '',
            metadata: {},
            expires_at: null,
            created_at: now(),
          },
        },
      ]);
      await db.store.transition([{ uid: held.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'requested', at: now() }]);
      const b = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      const [d] = await db.store.claim(greedyClaim('live-node', 10, 1));
      assert.equal(d?.app.uid, b.uid);
      const stale = new Date(Date.now() - 20_000).toISOString();
      assert.equal(await db.store.reelectFromDeadNode('live-node', stale, 're-elect', now()), 0);
      assert.equal(await db.store.reelectFromDeadNode('dead-node', stale, 'node dead-node stopped answering', now()), 2);
      const back = await db.store.getApplication(a.uid);
      assert.equal(back?.status, 'NEW');
      assert.equal(back?.node, null);
      assert.equal(back?.status_description, 'node dead-node stopped answering');
      assert.equal((await db.store.getApplication(undone.uid))?.status, 'DEALLOCATED');
      assert.equal((await db.store.getApplication(held.uid))?.status, 'DEALLOCATE', 'its resource may still exist: it waits for its node');
      assert.equal((await db.store.getApplication(b.uid))?.status, 'ELECTED');
      assert.equal((await db.store.usage('dead-node')).cpu, 1, 'only the held resource still counts');
      await db.store.transition([
        { uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() },
        { uid: b.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'x', at: now() },
        { uid: held.uid, from: ['DEALLOCATE'], to: 'DEALLOCATED', description: 'x', at: now(), deleteResource: true },
      ]);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
