import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProtection } from './config-protection.js';

const fail = (field: string, problem: string): Error => new Error(`config ${field}: ${problem}`);

describe('protection settings of the node config', () => {
  it('defaults, and every value read', () => {
    const d = parseProtection({}, fail);
    assert.deepEqual(d.limits, { metadata: { depth: 16, keys: 1000, keyLength: 128, bytes: 65536 }, bodyDepth: 64 });
    assert.equal(d.connections.headerTimeoutMs, 10_000);
    assert.deepEqual(d.metrics, {});
    const c = parseProtection(
      {
        limits: { metadata: { depth: 4 }, body_depth: 20 },
        connections: { max: 10, per_address: 2, header_timeout: '500ms', idle_timeout: '2m' },
        events: { max_streams_per_user: 1 },
        meta_rate: { per_second: 0.5, burst: 2 },
        metrics: { token: 'x'.repeat(16), listen: '127.0.0.1:9464' },
        login: { window: '1h' },
      },
      fail,
    );
    assert.equal(c.limits.metadata.depth, 4);
    assert.equal(c.connections.headerTimeoutMs, 500);
    assert.equal(c.connections.idleTimeoutMs, 120_000);
    assert.equal(c.metaRate.perSecond, 0.5);
    assert.equal(c.login.windowMs, 3_600_000);
    assert.equal(c.metrics.listen, '127.0.0.1:9464');
  });

  it('a bad value names its setting', () => {
    assert.throws(
      () => parseProtection({ limits: { metadata: { depth: 0 } } }, fail),
      /limits\.metadata\.depth: must be a whole number from 1 to 64/,
    );
    assert.throws(() => parseProtection({ limits: { metadata: { deep: 3 } } }, fail), /limits\.metadata\.deep: unknown setting/);
    assert.throws(() => parseProtection({ connections: { header_timeout: 10 } }, fail), /connections\.header_timeout: must be a duration/);
    assert.throws(() => parseProtection({ metrics: { token: 'short' } }, fail), /metrics\.token: must be a string of at least 16/);
    assert.throws(() => parseProtection({ meta_rate: 5 }, fail), /meta_rate: must be a mapping/);
  });
});
