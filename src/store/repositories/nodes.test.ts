import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../open-store.js';
import { nodeRow } from '../store-test-kit.js';
import type { Store } from '../store.js';
import { createTestDatabase, TEST_DIALECTS, type TestDatabase, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`nodes on ${kind}`, () => {
    let tdb: TestDatabase;
    let store: Store;

    before(async () => {
      tdb = await createTestDatabase(kind);
      store = await openStore(tdb.url);
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    test('nodes: upsert keeps maintenance, heartbeat, list', async () => {
      await store.upsertNode(nodeRow('mnode'));
      assert.equal(await store.setMaintenance('mnode', true), true);
      await store.upsertNode(nodeRow('mnode', { cpu: 16 }));
      const n = await store.getNode('mnode');
      assert.equal(n?.maintenance, true);
      assert.equal(n?.cpu, 16);
      const hb = new Date(Date.now() + 5000).toISOString();
      await store.heartbeat('mnode', hb);
      assert.equal((await store.getNode('mnode'))?.heartbeat_at, hb);
      assert.ok((await store.listNodes()).some((x) => x.name === 'mnode'));
      assert.equal(await store.setMaintenance('nope', true), false);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
