import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressPrefix, FailureWindow, LoginRateLimiter } from './login-rate-limiter.js';

describe('LoginRateLimiter', () => {
  it('addresses count by prefix: /24 for IPv4, /64 for IPv6', () => {
    assert.equal(addressPrefix('10.1.2.3'), '10.1.2.0/24');
    assert.equal(addressPrefix('::ffff:10.1.2.200'), '10.1.2.0/24');
    assert.equal(addressPrefix('2001:db8:0:12::1'), '2001:db8:0:12::/64');
    assert.equal(addressPrefix('2001:0db8:0000:0012:ffff::7'), '2001:db8:0:12::/64');
    assert.equal(addressPrefix('::1'), '0:0:0:0::/64');
  });

  it('limits a prefix after its failures: rotating addresses inside it does not help, another prefix is not affected', () => {
    let now = 1_000_000;
    const l = new LoginRateLimiter({ maxFailuresPerPrefix: 3, maxFailuresPerUser: 100, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(l.retryAfter(`10.0.0.${i + 1}`), 0);
      l.fail(`10.0.0.${i + 1}`);
      now += 1000;
    }
    // failures at t0, t0+1s, t0+2s; now = t0+3s: the oldest leaves the window at t0+60s
    assert.equal(l.retryAfter('10.0.0.77'), 57);
    assert.equal(l.retryAfter('10.0.1.1'), 0, 'another /24 is not affected');
    now += 57_000;
    assert.equal(l.retryAfter('10.0.0.1'), 0);
  });

  it('limits a user whatever the address it fails from', () => {
    const now = 0;
    const l = new LoginRateLimiter({ maxFailuresPerPrefix: 100, maxFailuresPerUser: 2, now: () => now });
    l.fail('10.0.0.1', 'user:ci');
    l.fail('192.168.9.9', 'user:ci');
    assert.ok(l.retryAfter('172.16.0.1', 'user:ci') > 0);
    assert.equal(l.retryAfter('172.16.0.1', 'user:other'), 0);
    assert.equal(l.retryAfter('172.16.0.1'), 0);
  });

  it('the slow lane runs one check at a time and refuses when its queue is full', async () => {
    const l = new LoginRateLimiter({ maxQueued: 2 });
    let running = 0;
    let most = 0;
    const gates: Array<() => void> = [];
    const check = (): Promise<string> =>
      new Promise<string>((resolve) => {
        running++;
        most = Math.max(most, running);
        gates.push(() => {
          running--;
          resolve('ok');
        });
      });
    const a = l.slowLane(check);
    const b = l.slowLane(check);
    const c = l.slowLane(check);
    assert.equal(await l.slowLane(check), null, 'one running + two queued: the fourth is refused');
    for (let released = 0; released < 3; released++) {
      // the next queued check starts only once the running one has finished
      for (let i = 0; i < 100 && gates.length === 0; i++) await new Promise((r) => setImmediate(r));
      assert.equal(gates.length, 1, 'exactly one check runs');
      gates.shift()!();
    }
    assert.deepEqual(await Promise.all([a, b, c]), [{ value: 'ok' }, { value: 'ok' }, { value: 'ok' }]);
    assert.equal(most, 1);
  });

  it('keeps memory bounded: at most maxKeys keys and max entries each', () => {
    let now = 0;
    const w = new FailureWindow(5, 60_000, 100, () => now);
    for (let i = 0; i < 1000; i++) {
      w.fail(`k${i}`);
      now += 1;
    }
    assert.ok(w.size <= 100, `size ${w.size}`);
    for (let k = 0; k < 1000; k++) w.fail('hot');
    assert.ok(w.retryAfter('hot') > 0);
    assert.ok(w.size <= 100);
  });

  it('forgets everything once the window has passed', () => {
    let now = 0;
    const w = new FailureWindow(2, 1000, 100, () => now);
    w.fail('a');
    w.fail('a');
    assert.ok(w.retryAfter('a') > 0);
    now = 5000;
    assert.equal(w.retryAfter('a'), 0);
    assert.equal(w.size, 0);
  });
});
