import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAuthorization } from './auth.js';
import { isLoopback, sourceAddress } from './source-address.js';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe('parseAuthorization', () => {
  it('reads Bearer and Basic credentials', () => {
    assert.deepEqual(parseAuthorization('Bearer abc.def-123'), { token: 'abc.def-123' });
    assert.deepEqual(parseAuthorization('bearer abc'), { token: 'abc' });
    assert.deepEqual(parseAuthorization(basic('ci:s3cr:et')), { name: 'ci', token: 's3cr:et' });
  });

  it('returns null for anything malformed', () => {
    for (const h of ['Bearer', 'Bearer a b', 'Token abc', basic('nocolon'), basic(':tok'), basic('user:'), 'Basic !!!', '']) {
      assert.equal(parseAuthorization(h), null, h);
    }
  });
});

describe('source addresses', () => {
  it('strips the IPv4-mapped prefix and recognises loopback', () => {
    assert.equal(sourceAddress({ socket: { remoteAddress: '::ffff:127.0.3.4' } }), '127.0.3.4');
    assert.equal(sourceAddress({ socket: { remoteAddress: '::1' } }), '::1');
    assert.equal(sourceAddress({ socket: null }), '');
    assert.ok(isLoopback('127.9.9.9'));
    assert.ok(isLoopback('::1'));
    assert.ok(!isLoopback('10.0.0.1'));
    assert.ok(!isLoopback('::ffff:10.0.0.1'));
  });
});
