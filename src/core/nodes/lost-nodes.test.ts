import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FailingStore } from '../../store/testing/index.js';
import { TEST_DIALECTS } from '../../store/testing/index.js';
import type { CoreLimits } from '../core-options.js';
import { CoreError } from '../errors.js';
import { ADMIN, ALICE, Harness, testLabel, waitFor, waitStatus } from '../testing/core-harness.js';

// short marks so a node is dead after 0.4 s and lost after 1.2 s of silence (nothing asserts a timing)
const MARKS: Partial<CoreLimits> = { heartbeatMs: 100, deadAfterMs: 400, nodeLostAfterMs: 1_200 };

for (const kind of TEST_DIALECTS) {
  describe(`lost nodes on ${kind}`, () => {
    test('a stopped node is declared lost: its work ends, its capacity leaves the totals, and at its restart its host is cleaned before new work', async () => {
      const h = await Harness.create(kind);
      try {
        const keeper = await h.node({ name: 'keeper', limits: MARKS });
        await keeper.core.setMaintenance(ADMIN, true); // every application goes to the other node
        const goner = await h.node({ name: 'goner', limits: MARKS });
        await keeper.core.createLabel(ALICE, testLabel('lost', { cpu: 1, ram: 1 }));
        const uids: string[] = [];
        for (let i = 0; i < 3; i++) uids.push((await keeper.core.createApplication(ALICE, { label: 'lost' })).uid);
        for (const u of uids) await waitStatus(keeper.core, u, 'ALLOCATED');
        assert.equal((await goner.driver.listResources()).length, 3);
        const before = (await keeper.core.listNodes(ADMIN)).find((n) => n.name === 'goner');
        assert.deepEqual(before?.used, { cpu: 3, ram: 3 });

        // stops without waiting for its resources (they stay on its host), then a deallocation is asked elsewhere
        const dataDir = goner.dataDir;
        await goner.close();
        await keeper.core.deallocate(ALICE, uids[0]!);
        assert.equal((await keeper.core.getState(ALICE, uids[0]!)).status, 'DEALLOCATE');

        const ended = await waitStatus(keeper.core, uids[0]!, 'DEALLOCATED');
        assert.match(ended, /node goner lost at \d{4}-\d\d-\d\dT/);
        for (const u of uids.slice(1)) assert.match(await waitStatus(keeper.core, u, 'ERROR'), /node goner lost at /);
        const lost = (await keeper.core.listNodes(ADMIN)).find((n) => n.name === 'goner');
        assert.ok(lost?.lost_at, 'the node list says when it was lost');
        assert.equal(lost.alive, false);
        assert.deepEqual(lost.used, { cpu: 0, ram: 0 }, 'its capacity left the totals');
        assert.deepEqual(await keeper.store.usage('goner'), { cpu: 0, ram: 0, drivers: new Map() });
        await assert.rejects(keeper.core.getResource(ALICE, uids[1]!), (e: unknown) => (e as CoreError).code === 'NOT_FOUND');

        // it comes back: the three resources left on its host are removed before it takes work
        const back = await h.node({ name: 'goner', limits: MARKS, dataDir });
        assert.deepEqual(await back.driver.listResources(), []);
        const again = (await keeper.core.listNodes(ADMIN)).find((n) => n.name === 'goner');
        assert.equal(again?.lost_at, undefined);
        assert.equal(again?.alive, true);
        const next = await keeper.core.createApplication(ALICE, { label: 'lost' });
        await waitStatus(keeper.core, next.uid, 'ALLOCATED');
        assert.equal((await keeper.core.getResource(ALICE, next.uid)).node, 'goner');
        assert.deepEqual(await back.driver.listResources(), [(await keeper.core.getResource(ALICE, next.uid)).hwaddr]);
      } finally {
        await h.close();
      }
    });

    test('a running node cut off from the database is declared lost; when it reaches the database again it removes what it held before taking new work', async () => {
      const h = await Harness.create(kind);
      try {
        const keeper = await h.node({ name: 'keeper2', limits: MARKS });
        await keeper.core.setMaintenance(ADMIN, true);
        let cut: FailingStore | undefined;
        const island = await h.node({
          name: 'island',
          limits: MARKS,
          wrapStore: (s) => {
            cut = new FailingStore(s);
            return cut.store;
          },
        });
        await keeper.core.createLabel(ALICE, testLabel('cut'));
        const uids = [
          (await keeper.core.createApplication(ALICE, { label: 'cut' })).uid,
          (await keeper.core.createApplication(ALICE, { label: 'cut' })).uid,
        ];
        for (const u of uids) await waitStatus(keeper.core, u, 'ALLOCATED');
        const held = await island.driver.listResources();
        assert.equal(held.length, 2);

        // its heartbeats fail from now on (the node itself keeps running)
        const silence = cut!.fail('heartbeat', { when: 'before', times: 1_000_000 });
        for (const u of uids) assert.match(await waitStatus(keeper.core, u, 'ERROR'), /node island lost at /);
        assert.deepEqual((await island.driver.listResources()).sort(), [...held].sort(), 'nothing was removed while it was cut off');

        silence.cancel();
        await waitFor('the island to clean its host', async () => (await island.driver.listResources()).length === 0);
        await waitFor('the island to be back in the node list', async () => {
          const n = (await keeper.core.listNodes(ADMIN)).find((x) => x.name === 'island');
          return n?.alive === true && n.lost_at === undefined;
        });
        const next = await keeper.core.createApplication(ALICE, { label: 'cut' });
        await waitStatus(keeper.core, next.uid, 'ALLOCATED');
        assert.equal((await keeper.core.getResource(ALICE, next.uid)).node, 'island');
      } finally {
        await h.close();
      }
    });

    test('node forget: an admin ends the work of a silent node at once and deletes it; a live node, itself or an unknown one is refused', async () => {
      const h = await Harness.create(kind);
      // a lost mark far away: only `forget` ends the work here
      const limits = { ...MARKS, nodeLostAfterMs: 600_000 };
      try {
        const keeper = await h.node({ name: 'keeper3', limits });
        await keeper.core.setMaintenance(ADMIN, true);
        const gone = await h.node({ name: 'gone', limits });
        await keeper.core.createLabel(ALICE, testLabel('f'));
        const uid = (await keeper.core.createApplication(ALICE, { label: 'f' })).uid;
        await waitStatus(keeper.core, uid, 'ALLOCATED');

        const refused = (code: string, re: RegExp) => (e: unknown) => e instanceof CoreError && e.code === code && re.test(e.message);
        await assert.rejects(keeper.core.forgetNode(ADMIN, 'gone'), refused('CONFLICT', /still answers/));
        await assert.rejects(keeper.core.forgetNode(ALICE, 'gone'), refused('FORBIDDEN', /forget a node/));
        await assert.rejects(keeper.core.forgetNode(ADMIN, 'keeper3'), refused('CONFLICT', /answering this request/));
        await assert.rejects(keeper.core.forgetNode(ADMIN, 'nobody'), refused('NOT_FOUND', /no node named nobody/));
        assert.equal((await keeper.core.getState(ALICE, uid)).status, 'ALLOCATED', 'a refusal changed nothing');

        await gone.close();
        const r = await keeper.core.forgetNode(ADMIN, 'gone');
        assert.deepEqual({ ...r, lost_at: typeof r.lost_at }, { name: 'gone', lost_at: 'string', requeued: 0, failed: 1, deallocated: 0 });
        const s = await keeper.core.getState(ALICE, uid);
        assert.equal(s.status, 'ERROR');
        assert.match(s.description, /node gone lost at .*forgotten by an admin/);
        assert.equal(
          (await keeper.core.listNodes(ADMIN)).some((n) => n.name === 'gone'),
          false,
        );
        await assert.rejects(keeper.core.forgetNode(ADMIN, 'gone'), refused('NOT_FOUND', /no node named gone/));
      } finally {
        await h.close();
      }
    });
  });
}
