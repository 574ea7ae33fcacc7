import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConflictError } from '../errors.js';
import { now, storeForSuite } from '../store-test-kit.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`users on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('users: insert, unique name, lookup by token id, page, delete', async () => {
      assert.equal(await db.store.countUsers(), 0);
      await db.store.insertUser({ name: 'admin', role: 'admin', token_id: 'tid1', token_hash: 'h1', created_at: now() });
      await db.store.insertUser({ name: 'bob', role: 'user', token_id: 'tid2', token_hash: 'h2', created_at: now() });
      await assert.rejects(
        db.store.insertUser({ name: 'bob', role: 'user', token_id: 'tid3', token_hash: 'h3', created_at: now() }),
        (e: unknown) => e instanceof ConflictError && e.code === 'CONFLICT' && /bob/.test(e.message),
      );
      assert.equal((await db.store.getUserByTokenId('tid2'))?.name, 'bob');
      assert.equal(await db.store.getUserByTokenId('nope'), undefined);
      const page1 = await db.store.listUsers({ limit: 1 });
      assert.deepEqual(
        page1.map((u) => u.name),
        ['admin'],
      );
      const page2 = await db.store.listUsers({ limit: 5, after: 'admin' });
      assert.deepEqual(
        page2.map((u) => u.name),
        ['bob'],
      );
      assert.equal(await db.store.deleteUser('bob'), true);
      assert.equal(await db.store.deleteUser('bob'), false);
      assert.equal(await db.store.countUsers(), 1);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
