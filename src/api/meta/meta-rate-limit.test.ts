import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBuckets } from './meta-rate-limit.js';

describe('Meta API token buckets', () => {
  it('a burst, then the sustained rate; each key has its own bucket', () => {
    let now = 0;
    const b = new TokenBuckets({ perSecond: 2, burst: 3 }, { now: () => now });
    assert.deepEqual([b.take('r1'), b.take('r1'), b.take('r1')], [0, 0, 0]);
    assert.equal(b.take('r1'), 1, 'empty: wait a second');
    assert.equal(b.take('r2'), 0, 'another resource');
    now += 500; // one token back
    assert.equal(b.take('r1'), 0);
    assert.ok(b.take('r1') >= 1);
  });

  it('keeps at most maxKeys buckets, dropping refilled ones first', () => {
    let now = 0;
    const b = new TokenBuckets({ perSecond: 1, burst: 1 }, { maxKeys: 10, now: () => now });
    for (let i = 0; i < 100; i++) {
      b.take(`k${i}`);
      now += 10;
    }
    assert.ok(b.size <= 10, `size ${b.size}`);
    assert.ok(b.take('k99') >= 1, 'the most recent bucket is remembered');
  });
});
