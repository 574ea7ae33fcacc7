import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeStoreUrl } from './open-store.js';

test('store URLs: postgres, sqlite forms, and clear errors', () => {
  assert.deepEqual(describeStoreUrl('postgres://u:p@h/db'), { kind: 'postgres', url: 'postgres://u:p@h/db' });
  assert.deepEqual(describeStoreUrl('sqlite:./data/x.db'), { kind: 'sqlite', path: './data/x.db' });
  assert.deepEqual(describeStoreUrl('sqlite:///tmp/x.db'), { kind: 'sqlite', path: '/tmp/x.db' });
  assert.deepEqual(describeStoreUrl('file:///tmp/y.db'), { kind: 'sqlite', path: '/tmp/y.db' });
  assert.deepEqual(describeStoreUrl('shoal-data/shoal.db'), { kind: 'sqlite', path: 'shoal-data/shoal.db' });
  assert.throws(
    () => describeStoreUrl('mysql://u:secret@h/db'),
    (e: Error) => /neither postgres/.test(e.message) && !e.message.includes('secret'),
  );
  assert.throws(() => describeStoreUrl(''), /empty/);
});
