import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConflictError } from '../errors.js';
import { openStore } from '../open-store.js';
import { now } from '../store-test-kit.js';
import type { Store } from '../store.js';
import { createTestDatabase, TEST_DIALECTS, type TestDatabase, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`users on ${kind}`, () => {
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

    test('users: insert, unique name, lookup by token id, page, delete', async () => {
      assert.equal(await store.countUsers(), 0);
      await store.insertUser({ name: 'admin', role: 'admin', token_id: 'tid1', token_hash: 'h1', created_at: now() });
      await store.insertUser({ name: 'bob', role: 'user', token_id: 'tid2', token_hash: 'h2', created_at: now() });
      await assert.rejects(
        store.insertUser({ name: 'bob', role: 'user', token_id: 'tid3', token_hash: 'h3', created_at: now() }),
        (e: unknown) => e instanceof ConflictError && e.code === 'CONFLICT' && /bob/.test(e.message),
      );
      assert.equal((await store.getUserByTokenId('tid2'))?.name, 'bob');
      assert.equal(await store.getUserByTokenId('nope'), undefined);
      const page1 = await store.listUsers({ limit: 1 });
      assert.deepEqual(
        page1.map((u) => u.name),
        ['admin'],
      );
      const page2 = await store.listUsers({ limit: 5, after: 'admin' });
      assert.deepEqual(
        page2.map((u) => u.name),
        ['bob'],
      );
      assert.equal(await store.deleteUser('bob'), true);
      assert.equal(await store.deleteUser('bob'), false);
      assert.equal(await store.countUsers(), 1);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
