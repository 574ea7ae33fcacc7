import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../open-store.js';
import { makeLabel, newApp, now } from '../store-test-kit.js';
import type { Store } from '../store.js';
import { createTestDatabase, TEST_DIALECTS, type TestDatabase, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`tasks on ${kind}`, () => {
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

    test('tasks: conditional status updates', async () => {
      const label = await makeLabel(store, 'tasks');
      const a = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const uid = randomUUID();
      await store.insertTask({
        uid,
        application_uid: a.uid,
        owner: 'alice',
        task: 'snapshot',
        options: {},
        when: 'NOW',
        status: 'PENDING',
        result: '',
        created_at: now(),
        updated_at: now(),
      });
      assert.equal(await store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), true);
      assert.equal(await store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), false);
      assert.equal(await store.updateTask(uid, ['RUNNING'], 'DONE', 'snap-1', now()), true);
      assert.equal((await store.getTask(uid))?.result, 'snap-1');
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
