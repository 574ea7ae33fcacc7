import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LoginRateLimiter } from './login-rate-limiter.js';

describe('LoginRateLimiter', () => {
  it('blocks an address after maxFailures within the window, and lets it in once the window slides', () => {
    let now = 1_000_000;
    const l = new LoginRateLimiter({ maxFailures: 3, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(l.retryAfter('10.0.0.1'), 0);
      l.fail('10.0.0.1');
      now += 1000;
    }
    // failures at t0, t0+1s, t0+2s; now = t0+3s: the oldest leaves the window at t0+60s
    assert.equal(l.retryAfter('10.0.0.1'), 57);
    assert.equal(l.retryAfter('10.0.0.2'), 0, 'other addresses are not affected');
    now += 57_000;
    assert.equal(l.retryAfter('10.0.0.1'), 0);
    l.fail('10.0.0.1');
    assert.equal(l.retryAfter('10.0.0.1'), 1, 'the two later failures are still in the window');
  });

  it('keeps memory bounded: at most maxAddresses addresses and maxFailures entries each', () => {
    let now = 0;
    const l = new LoginRateLimiter({ maxFailures: 5, windowMs: 60_000, maxAddresses: 100, now: () => now });
    for (let i = 0; i < 1000; i++) {
      l.fail(`10.0.${i >> 8}.${i & 255}`);
      now += 1;
    }
    assert.ok(l.size <= 100, `size ${l.size}`);
    // the most recent addresses are the ones remembered
    for (let k = 0; k < 5; k++) l.fail('10.0.3.231');
    assert.ok(l.retryAfter('10.0.3.231') > 0);
    for (let k = 0; k < 1000; k++) l.fail('10.9.9.9');
    assert.ok(l.retryAfter('10.9.9.9') > 0);
    assert.ok(l.size <= 100);
  });

  it('forgets everything once the window has passed', () => {
    let now = 0;
    const l = new LoginRateLimiter({ maxFailures: 2, windowMs: 1000, now: () => now });
    l.fail('a');
    l.fail('a');
    assert.ok(l.retryAfter('a') > 0);
    now = 5000;
    assert.equal(l.retryAfter('a'), 0);
    assert.equal(l.size, 0);
  });
});
