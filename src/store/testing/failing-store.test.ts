import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../open-store.js';
import type { Store, TokenRow, UserRow } from '../store.js';
import { FailingStore, InjectedStoreFailure } from './failing-store.js';
import { createTestDatabase, type TestDatabase } from './test-databases.js';

const user = (name: string): [UserRow, TokenRow] => {
  const created_at = new Date().toISOString();
  return [
    { id: `${name}.1`, name, role: 'user', created_at },
    { id: `id-${name}`, user_id: `${name}.1`, name: 'initial', hash: 'h', created_at, expires_at: null },
  ];
};
const injected = (method: string, when: string) => (e: unknown) =>
  e instanceof InjectedStoreFailure && e.method === method && e.when === when;

describe('FailingStore (on SQLite)', () => {
  let db: TestDatabase;
  let inner: Store;
  before(async () => {
    db = await createTestDatabase('sqlite');
    inner = await openStore(db.url);
  });
  after(async () => {
    await inner.close();
    await db.drop();
  });

  test('before: the call throws and nothing is written; the next call passes through', async () => {
    const f = new FailingStore(inner);
    const inj = f.fail('insertUser', { when: 'before' });
    await assert.rejects(f.store.insertUser(...user('before-1')), injected('insertUser', 'before'));
    await inj.exhausted;
    assert.equal(await inner.getUser('before-1'), undefined, 'not written');
    await f.store.insertUser(...user('before-1'));
    assert.equal((await inner.getUser('before-1'))?.name, 'before-1');
    assert.equal(f.calls('insertUser'), 2);
    assert.equal(inj.failedCalls.length, 1);
  });

  test('after: the write commits and the call still throws (a lost answer)', async () => {
    const f = new FailingStore(inner);
    f.fail('insertUser', { when: 'after' });
    await assert.rejects(f.store.insertUser(...user('after-1')), injected('insertUser', 'after'));
    assert.equal((await inner.getUser('after-1'))?.name, 'after-1', 'written');
  });

  test('times and match select which calls fail; other methods and properties pass through', async () => {
    const f = new FailingStore(inner);
    const inj = f.fail('insertUser', { when: 'before', times: 2, match: (row) => row.name.startsWith('x-') });
    await f.store.insertUser(...user('plain'));
    await assert.rejects(f.store.insertUser(...user('x-1')));
    await assert.rejects(f.store.insertUser(...user('x-2')));
    await f.store.insertUser(...user('x-3'));
    await inj.exhausted;
    assert.deepEqual(
      inj.failedCalls.map(([row]) => row.name),
      ['x-1', 'x-2'],
    );
    assert.equal(f.store.dialect, 'sqlite');
    assert.equal(typeof (await f.store.countUsers()), 'number');
    const cancelled = f.fail('getUser', { when: 'before' });
    cancelled.cancel();
    assert.equal((await f.store.getUser('x-3'))?.name, 'x-3', 'a cancelled failure no longer fires');
  });

  test('after: an operation that fails by itself gives its own error', async () => {
    await inner.insertUser(...user('dup'));
    const f = new FailingStore(inner);
    const inj = f.fail('insertUser', { when: 'after' });
    await assert.rejects(
      f.store.insertUser(...user('dup')),
      (e: unknown) => !(e instanceof InjectedStoreFailure),
      'USER_EXISTS from the store',
    );
    await inj.exhausted;
  });
});
