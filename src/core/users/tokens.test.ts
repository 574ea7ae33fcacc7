import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenCache } from './token-cache.js';
import { hashSecret, newToken, splitToken, tokenKey, verifySecret } from './tokens.js';

test('tokens: format, argon2id hash, verify', async () => {
  const t = newToken();
  assert.match(t.token, /^[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(splitToken(t.token), { id: t.id, secret: t.secret });
  assert.equal(splitToken('nodot'), null);
  assert.equal(splitToken(`${t.id}.short`), null);
  const hash = await hashSecret(t.secret);
  assert.match(hash, /^\$argon2id\$/);
  assert.ok(!hash.includes(t.secret));
  assert.equal(await verifySecret(hash, t.secret), true);
  assert.equal(await verifySecret(hash, newToken().secret), false);
  assert.equal(await verifySecret('garbage', t.secret), false);
  assert.notEqual(newToken().token, t.token);
  assert.equal(tokenKey(t.token).length, 64);
  assert.ok(!tokenKey(t.token).includes(t.secret));
});

test('token cache: remembers the verified hash, expires, bounded size', () => {
  let now = 1000;
  const cache = new TokenCache(500, 3, () => now);
  cache.set('tok-a', 'hash-a');
  cache.set('tok-b', 'hash-b');
  assert.equal(cache.verifiedHash('tok-a'), 'hash-a');
  assert.equal(cache.verifiedHash('tok-b'), 'hash-b');
  assert.equal(cache.verifiedHash('tok-c'), undefined);
  now += 600;
  assert.equal(cache.verifiedHash('tok-a'), undefined, 'expired');
  for (let i = 0; i < 10; i++) cache.set(`t${i}`, `h${i}`);
  assert.ok(cache.size <= 3);
  assert.equal(cache.verifiedHash('t9'), 'h9', 'the newest stays');
  assert.equal(cache.verifiedHash('t0'), undefined, 'the oldest went');
  const off = new TokenCache(0);
  off.set('tok', 'h');
  assert.equal(off.verifiedHash('tok'), undefined, 'a cache time of 0 keeps nothing');
});
