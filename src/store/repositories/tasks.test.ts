import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { makeLabel, newApp, now, storeForSuite } from '../store-test-kit.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`tasks on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('tasks: conditional status updates', async () => {
      const label = await makeLabel(db.store, 'tasks');
      const a = (await db.store.insertApplication(newApp(label.uid), 'new')).app;
      const uid = randomUUID();
      await db.store.insertTask({
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
      assert.equal(await db.store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), true);
      assert.equal(await db.store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), false);
      assert.equal(await db.store.updateTask(uid, ['RUNNING'], 'DONE', 'snap-1', now()), true);
      assert.equal((await db.store.getTask(uid))?.result, 'snap-1');
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
