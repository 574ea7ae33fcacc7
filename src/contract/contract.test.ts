import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DRIVER_ERROR_CODES,
  DriverError,
  DriverRegistry,
  invalidConfig,
  invalidDefinition,
  parseDefinition,
  parseDisk,
  parseRequirements,
  REQUIREMENT_LIMITS,
  RESOURCE_STATUSES,
  StatusAllocated,
  StatusNone,
  stringifyDefinition,
  type DriverFactory,
} from './index.js';

/** asserts `run` throws DriverError INVALID_DEFINITION whose field is exactly `field` and whose message starts with it */
function rejects(run: () => unknown, field: string, problem?: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof DriverError, `expected DriverError, got ${String(err)}`);
    assert.equal(err.code, 'INVALID_DEFINITION');
    assert.equal(err.field, field);
    assert.ok(err.message.startsWith(`${field}: `), `message ${JSON.stringify(err.message)} does not name ${field}`);
    if (problem) assert.match(err.message, problem);
    return true;
  });
}

describe('statuses and errors', () => {
  it("keeps the status strings of Aquarium Fish's driver interface", () => {
    assert.equal(StatusNone, 'NONE');
    assert.equal(StatusAllocated, 'ALLOCATED');
    assert.deepEqual([...RESOURCE_STATUSES], ['NONE', 'ALLOCATED']);
  });

  it('DriverError carries code, field and cause', () => {
    const cause = new Error('root');
    const e = new DriverError('BACKEND', 'daemon down', { cause });
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'DriverError');
    assert.equal(e.code, 'BACKEND');
    assert.equal(e.field, undefined);
    assert.equal(e.cause, cause);
    assert.equal(new DriverError('BACKEND', 'x').cause, undefined);
    const d = invalidDefinition('requirements.cpu', 'must be ≥ 1');
    assert.deepEqual([d.code, d.field, d.message], ['INVALID_DEFINITION', 'requirements.cpu', 'requirements.cpu: must be ≥ 1']);
    const c = invalidConfig('socket', 'missing');
    assert.deepEqual([c.code, c.field, c.message], ['INVALID_CONFIG', 'socket', 'socket: missing']);
    assert.equal(new Set(DRIVER_ERROR_CODES).size, DRIVER_ERROR_CODES.length);
    for (const code of ['INVALID_CONFIG', 'INVALID_DEFINITION', 'NOT_FOUND', 'NO_CAPACITY', 'BACKEND', 'UNSUPPORTED', 'INJECTED']) {
      assert.ok((DRIVER_ERROR_CODES as readonly string[]).includes(code), code);
    }
  });
});

describe('parseDisk', () => {
  it('fills defaults: label = key, reuse false, clone ""', () => {
    assert.deepEqual(parseDisk({ type: 'ext4', size: 1 }, 'ws', 'requirements.disks.ws'), {
      type: 'ext4',
      label: 'ws',
      size: 1,
      reuse: false,
      clone: '',
    });
    assert.deepEqual(parseDisk({ type: 'ext4', size: 1, label: null, reuse: null, clone: null }, 'ws', 'd'), {
      type: 'ext4',
      label: 'ws',
      size: 1,
      reuse: false,
      clone: '',
    });
    assert.equal(parseDisk({ type: 'ext4', size: 1, label: '' }, 'ws', 'd').label, 'ws');
  });

  it('keeps given values', () => {
    assert.deepEqual(parseDisk({ type: 'xfs', label: 'cache.v2', size: 65536, reuse: true, clone: 'snap-1' }, 'c_1', 'd'), {
      type: 'xfs',
      label: 'cache.v2',
      size: 65536,
      reuse: true,
      clone: 'snap-1',
    });
  });

  const f = 'requirements.disks.ws';
  const bad: Array<[string, unknown, string, string, RegExp?]> = [
    ['a bad key', { type: 'ext4', size: 1 }, '-ws', 'requirements.disks.-ws', /disk names/],
    ['a key too long', { type: 'ext4', size: 1 }, 'k'.repeat(64), `requirements.disks.${'k'.repeat(64)}`],
    ['a non-object', 'ext4', 'ws', f, /must be an object/],
    ['an array', [], 'ws', f],
    ['an unknown field', { type: 'ext4', size: 1, mount: '/x' }, 'ws', `${f}.mount`, /unknown field/],
    ['no type', { size: 1 }, 'ws', `${f}.type`, /required/],
    ['a numeric type', { type: 4, size: 1 }, 'ws', `${f}.type`, /must be a string/],
    ['a bad label', { type: 'ext4', size: 1, label: 'a b' }, 'ws', `${f}.label`],
    ['no size', { type: 'ext4' }, 'ws', `${f}.size`, /whole number/],
    ['size 0', { type: 'ext4', size: 0 }, 'ws', `${f}.size`, /≥ 1/],
    ['size 1.5', { type: 'ext4', size: 1.5 }, 'ws', `${f}.size`],
    ['size "1"', { type: 'ext4', size: '1' }, 'ws', `${f}.size`],
    ['size over the limit', { type: 'ext4', size: REQUIREMENT_LIMITS.diskSize + 1 }, 'ws', `${f}.size`, /≤ 65536/],
    ['reuse "yes"', { type: 'ext4', size: 1, reuse: 'yes' }, 'ws', `${f}.reuse`, /true or false/],
    ['clone 1', { type: 'ext4', size: 1, clone: 1 }, 'ws', `${f}.clone`],
  ];
  for (const [what, raw, key, field, problem] of bad) {
    it(`rejects ${what} naming ${field}`, () =>
      rejects(() => parseDisk(raw, key, key === 'ws' ? f : `requirements.disks.${key}`), field, problem));
  }
});

describe('parseRequirements', () => {
  it('fills defaults: no disks, network ""', () => {
    assert.deepEqual(parseRequirements({ cpu: 1, ram: 1 }), { cpu: 1, ram: 1, disks: {}, network: '' });
    assert.deepEqual(parseRequirements({ cpu: 2, ram: 3, disks: null, network: null }), { cpu: 2, ram: 3, disks: {}, network: '' });
  });

  it('accepts the limits exactly', () => {
    const disks = Object.fromEntries(Array.from({ length: REQUIREMENT_LIMITS.disks }, (_, i) => [`d${i}`, { type: 'ext4', size: 1 }]));
    const r = parseRequirements({ cpu: REQUIREMENT_LIMITS.cpu, ram: REQUIREMENT_LIMITS.ram, disks, network: 'nat' });
    assert.equal(r.cpu, 1024);
    assert.equal(r.ram, 16384);
    assert.equal(Object.keys(r.disks).length, 32);
    assert.equal(r.disks.d7?.label, 'd7');
  });

  const bad: Array<[string, unknown, string, RegExp?]> = [
    ['a non-object', 'cpu=1', 'requirements', /must be an object/],
    ['null', null, 'requirements'],
    ['an array', [1], 'requirements'],
    ['cpu missing', { ram: 1 }, 'requirements.cpu', /whole number/],
    ['cpu 0', { cpu: 0, ram: 1 }, 'requirements.cpu', /≥ 1/],
    ['cpu -1', { cpu: -1, ram: 1 }, 'requirements.cpu'],
    ['cpu 1.5', { cpu: 1.5, ram: 1 }, 'requirements.cpu'],
    ['cpu over the limit', { cpu: 1025, ram: 1 }, 'requirements.cpu', /≤ 1024/],
    ['ram "2"', { cpu: 1, ram: '2' }, 'requirements.ram', /"2"/],
    ['ram 0', { cpu: 1, ram: 0 }, 'requirements.ram'],
    ['ram over the limit', { cpu: 1, ram: 16385 }, 'requirements.ram', /≤ 16384/],
    ['an unknown field', { cpu: 1, ram: 1, gpu: 1 }, 'requirements.gpu', /unknown field/],
    ['disks as an array', { cpu: 1, ram: 1, disks: [] }, 'requirements.disks'],
    [
      'too many disks',
      { cpu: 1, ram: 1, disks: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`d${i}`, { type: 'ext4', size: 1 }])) },
      'requirements.disks',
      /at most 32/,
    ],
    ['a bad disk', { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 0 } } }, 'requirements.disks.ws.size'],
    ['network 1', { cpu: 1, ram: 1, network: 1 }, 'requirements.network'],
  ];
  for (const [what, raw, field, problem] of bad) {
    it(`rejects ${what} naming ${field}`, () => rejects(() => parseRequirements(raw), field, problem));
  }

  it('uses the given field prefix', () =>
    rejects(() => parseRequirements({ cpu: 0, ram: 1 }, 'definitions[2].requirements'), 'definitions[2].requirements.cpu'));
});

describe('parseDefinition', () => {
  it('parses options and requirements; options default to {}', () => {
    assert.deepEqual(parseDefinition('{"options":{"image":"x"},"requirements":{"cpu":1,"ram":2}}'), {
      options: { image: 'x' },
      requirements: { cpu: 1, ram: 2, disks: {}, network: '' },
    });
    assert.deepEqual(parseDefinition('{"requirements":{"cpu":1,"ram":1}}').options, {});
    assert.deepEqual(parseDefinition('{"options":null,"requirements":{"cpu":1,"ram":1}}').options, {});
  });

  it('round-trips stringifyDefinition', () => {
    const s = stringifyDefinition({ requirements: { cpu: 1, ram: 1, disks: { ws: { type: 'dir', size: 2 } } } });
    assert.deepEqual(JSON.parse(s), { options: {}, requirements: { cpu: 1, ram: 1, disks: { ws: { type: 'dir', size: 2 } } } });
    assert.equal(parseDefinition(s).requirements.disks.ws?.label, 'ws');
  });

  const bad: Array<[string, string, string, RegExp?]> = [
    ['malformed JSON', '{"options":', 'definition', /not valid JSON/],
    ['an empty string', '', 'definition', /not valid JSON/],
    ['an array', '[]', 'definition', /must be an object/],
    ['a string', '"x"', 'definition'],
    ['null', 'null', 'definition'],
    ['an unknown top-level field', '{"driver":"docker","requirements":{"cpu":1,"ram":1}}', 'driver', /unknown field/],
    ['options as an array', '{"options":[],"requirements":{"cpu":1,"ram":1}}', 'options', /must be an object/],
    ['options as a string', '{"options":"x","requirements":{"cpu":1,"ram":1}}', 'options'],
    ['no requirements', '{"options":{}}', 'requirements'],
    ['bad requirements', '{"requirements":{"cpu":1,"ram":0}}', 'requirements.ram'],
  ];
  for (const [what, text, field, problem] of bad) {
    it(`rejects ${what} naming ${field}`, () => rejects(() => parseDefinition(text), field, problem));
  }
});

describe('DriverRegistry', () => {
  const factory = (name: string): DriverFactory => ({
    name,
    description: `${name} driver`,
    autoDetect: false,
    create: () => {
      throw new Error('not used');
    },
  });

  it('registers, finds and lists factories in order', () => {
    const r = new DriverRegistry([factory('test'), factory('docker')]);
    r.register(factory('qemu'));
    assert.deepEqual(r.names(), ['test', 'docker', 'qemu']);
    assert.equal(r.get('docker')?.name, 'docker');
    assert.equal(r.get('nope'), undefined);
    assert.deepEqual(
      r.all().map((f) => f.name),
      ['test', 'docker', 'qemu'],
    );
    assert.deepEqual(new DriverRegistry().names(), []);
  });

  it('refuses a name registered twice', () => {
    const r = new DriverRegistry([factory('test')]);
    assert.throws(() => r.register(factory('test')), /"test" is registered twice/);
    assert.throws(() => new DriverRegistry([factory('a'), factory('a')]), /registered twice/);
    assert.deepEqual(r.names(), ['test']);
  });
});
