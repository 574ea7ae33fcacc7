import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DriverError } from '../../contract/index.js';
import { CAPACITY_DEFAULTS, INJECTION_KEYS, parseConfig } from './config.js';
import { parseTestDefinition } from './definition.js';
import { isMac, randomMac } from '../shared/mac.js';
import { loopbackBlock, randomLoopback } from './identity.js';
import { testDriverFactory } from './index.js';
import { TestDriver } from './driver.js';
import { contextFor, def } from './test-helpers.js';

function rejects(run: () => unknown, code: string, field: string): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected DriverError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}:`), `message ${err.message} does not start with ${field}`);
    return true;
  });
}

describe('test driver config (prepare JSON)', () => {
  it('defaults: generous capacity, no failures, no delays', () => {
    for (const text of ['', '  ', '{}', 'null']) {
      const c = parseConfig(text);
      assert.equal(c.cpu, CAPACITY_DEFAULTS.cpu);
      assert.equal(c.ram, CAPACITY_DEFAULTS.ram);
      for (const k of INJECTION_KEYS) assert.equal(c[k], 0, k);
    }
    assert.ok(CAPACITY_DEFAULTS.cpu >= 1024 && CAPACITY_DEFAULTS.ram >= 4096);
  });

  it('takes every key', () => {
    const c = parseConfig(
      JSON.stringify({
        cpu: 8,
        ram: 16,
        fail_allocate: 255,
        fail_deallocate: 1,
        fail_status: 254,
        fail_snapshot: 50,
        delay_allocate: 600000,
        delay_deallocate: 0,
        delay_status: 3,
        delay_snapshot: 4,
      }),
    );
    assert.deepEqual(
      { ...c },
      {
        cpu: 8,
        ram: 16,
        fail_allocate: 255,
        fail_deallocate: 1,
        fail_status: 254,
        fail_snapshot: 50,
        delay_allocate: 600000,
        delay_deallocate: 0,
        delay_status: 3,
        delay_snapshot: 4,
      },
    );
  });

  const bad: Array<[string, string]> = [
    ['{"cpu":0}', 'cpu'],
    ['{"cpu":1.5}', 'cpu'],
    ['{"ram":"2"}', 'ram'],
    ['{"ram":-1}', 'ram'],
    ['{"fail_allocate":256}', 'fail_allocate'],
    ['{"fail_status":-1}', 'fail_status'],
    ['{"fail_snapshot":true}', 'fail_snapshot'],
    ['{"delay_deallocate":600001}', 'delay_deallocate'],
    ['{"delay_status":"5"}', 'delay_status'],
    ['{"delay_snapshot":0.5}', 'delay_snapshot'],
    ['{"fail_everything":1}', 'fail_everything'],
    ['{"image":"x"}', 'image'],
    ['[1]', 'config'],
    ['"x"', 'config'],
    ['{"cpu":', 'config'],
  ];
  for (const [text, field] of bad) {
    it(`rejects ${text} naming ${field}`, () => rejects(() => parseConfig(text), 'INVALID_CONFIG', field));
  }

  it('prepare rejects a bad config with INVALID_CONFIG and the driver stays unusable', async () => {
    const d = new TestDriver(contextFor('/nonexistent-never-created'));
    await assert.rejects(
      d.prepare('{"fail_allocate":300}'),
      (e: unknown) => e instanceof DriverError && e.code === 'INVALID_CONFIG' && e.field === 'fail_allocate',
    );
    await assert.rejects(d.allocate(def(), {}), (e: unknown) => e instanceof DriverError && /prepare\(\) was not called/.test(e.message));
  });
});

describe('test driver definitions', () => {
  it('accepts the injection keys as options and records disks and network', () => {
    const d = parseTestDefinition(
      def(
        { cpu: 2, ram: 3, disks: { ws: { type: 'xfs', size: 5, reuse: true } }, network: 'nat' },
        { fail_allocate: 30, delay_status: 10 },
      ),
    );
    assert.deepEqual(d.options, { fail_allocate: 30, delay_status: 10 });
    assert.deepEqual(d.requirements, {
      cpu: 2,
      ram: 3,
      disks: { ws: { type: 'xfs', label: 'ws', size: 5, reuse: true, clone: '' } },
      network: 'nat',
    });
  });

  const bad: Array<[string, string]> = [
    [def({ cpu: 1, ram: 1 }, { fail_allocate: 256 }), 'options.fail_allocate'],
    [def({ cpu: 1, ram: 1 }, { delay_allocate: 600_001 }), 'options.delay_allocate'],
    [def({ cpu: 1, ram: 1 }, { delay_status: 'soon' }), 'options.delay_status'],
    [def({ cpu: 1, ram: 1 }, { cpu: 4 }), 'options.cpu'],
    [def({ cpu: 1, ram: 1 }, { image: 'busybox' }), 'options.image'],
    [def({ cpu: 1, ram: 1, disks: { ws: { type: 'zfs', size: 1 } } }), 'requirements.disks.ws.type'],
    [def({ cpu: 1, ram: 1, network: 'macvlan' }), 'requirements.network'],
    [def({ cpu: 0, ram: 1 }), 'requirements.cpu'],
    [JSON.stringify({ options: [], requirements: { cpu: 1, ram: 1 } }), 'options'],
  ];
  for (const [text, field] of bad) {
    it(`rejects ${text} naming ${field}`, () => rejects(() => parseTestDefinition(text), 'INVALID_DEFINITION', field));
  }
});

describe('test driver identities', () => {
  it('hwaddrs are locally administered unicast MACs', () => {
    for (let i = 0; i < 200; i++) {
      const mac = randomMac();
      assert.ok(isMac(mac), mac);
      const first = parseInt(mac.slice(0, 2), 16);
      assert.equal(first & 0x01, 0, `${mac} is multicast`);
      assert.equal(first & 0x02, 0x02, `${mac} is not locally administered`);
    }
    assert.equal(isMac('../../etc/passwd'), false);
    assert.equal(isMac('02:00:00:00:00:0G'), false);
  });

  it('each instance has its own 127.X block, never 127.0', () => {
    const blocks = ['test', 'test/b', 'test/c', ''].map(loopbackBlock);
    for (const b of blocks) assert.ok(b >= 1 && b <= 254, String(b));
    assert.equal(loopbackBlock('test'), loopbackBlock('test'));
    assert.notEqual(loopbackBlock('test'), loopbackBlock('test/b'));
  });

  it('randomLoopback avoids used addresses and finds the last free one', () => {
    const used = new Set<string>();
    for (let y = 0; y < 256; y++) for (let z = 1; z < 255; z++) used.add(`127.9.${y}.${z}`);
    used.delete('127.9.200.17');
    assert.equal(randomLoopback(9, used), '127.9.200.17');
    used.add('127.9.200.17');
    assert.equal(randomLoopback(9, used), undefined);
  });
});

describe('testDriverFactory', () => {
  it('is the auto-detected "test" driver and creates TestDriver instances', () => {
    assert.equal(testDriverFactory.name, 'test');
    assert.equal(testDriverFactory.autoDetect, true);
    assert.ok(testDriverFactory.description.length > 0);
    const d = testDriverFactory.create(contextFor('/tmp/unused'));
    assert.ok(d instanceof TestDriver);
    assert.equal(d.name(), 'test');
  });
});
