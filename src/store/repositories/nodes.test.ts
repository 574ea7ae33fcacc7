import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { nodeRow, storeForSuite } from '../store-test-kit.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`nodes on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('nodes: upsert keeps maintenance, heartbeat, list', async () => {
      await db.store.upsertNode(nodeRow('mnode'));
      assert.equal(await db.store.setMaintenance('mnode', true), true);
      await db.store.upsertNode(nodeRow('mnode', { cpu: 16 }));
      const n = await db.store.getNode('mnode');
      assert.equal(n?.maintenance, true);
      assert.equal(n?.cpu, 16);
      const hb = new Date(Date.now() + 5000).toISOString();
      await db.store.heartbeat('mnode', hb);
      assert.equal((await db.store.getNode('mnode'))?.heartbeat_at, hb);
      assert.ok((await db.store.listNodes()).some((x) => x.name === 'mnode'));
      assert.equal(await db.store.setMaintenance('nope', true), false);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
