import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import '../../src/api/validator-compiler.js'; // registers the uuid and date-time formats the routes check
import { ApplicationCreateBody, ApplicationListQuery, TaskCreateBody } from '../../src/api/v1/applications/schemas.js';
import { LabelCreateBody, LabelListQuery } from '../../src/api/v1/labels/schemas.js';
import { MaintenanceBody } from '../../src/api/v1/nodes/schemas.js';
import { UserCreateBody } from '../../src/api/v1/users/schemas.js';
import { applyMutation, hostileInside, invalidValue, pathsOf, replaceAt, validValue, withKey, type JsonSchema } from './fuzz-schema.js';
import { deepText, oddKey, RawJson, toJsonText, toYamlText, wideText } from './fuzz-values.js';

/** The route schemas as the OpenAPI document carries them: plain JSON, no TypeBox symbols. */
const plain = (s: TSchema): JsonSchema => JSON.parse(JSON.stringify(s)) as JsonSchema;

const SCHEMAS: Array<[string, TSchema]> = [
  ['UserCreateBody', UserCreateBody],
  ['LabelCreateBody', LabelCreateBody],
  ['ApplicationCreateBody', ApplicationCreateBody],
  ['TaskCreateBody', TaskCreateBody],
  ['MaintenanceBody', MaintenanceBody],
  ['LabelListQuery', LabelListQuery],
  ['ApplicationListQuery', ApplicationListQuery],
];

describe('fuzz-schema: arbitraries from the route schemas', () => {
  for (const [name, schema] of SCHEMAS) {
    it(`validValue(${name}) makes values the route's own schema accepts`, () => {
      fc.assert(
        fc.property(validValue(plain(schema)), (v) => {
          assert.ok(
            Value.Check(schema, v),
            `rejected: ${JSON.stringify(v)}: ${[...Value.Errors(schema, v)].map((e) => `${e.path} ${e.message}`).join('; ')}`,
          );
        }),
        { seed: 42, numRuns: 200 },
      );
    });
  }

  for (const [name, schema] of SCHEMAS.filter(([, s]) => (plain(s).required ?? []).length > 0)) {
    it(`a dropped required field makes ${name} invalid`, () => {
      fc.assert(
        fc.property(validValue(plain(schema)), fc.nat(), (v, at) => {
          const broken = applyMutation(plain(schema), v, { kind: 'drop-required', at });
          assert.equal(Value.Check(schema, broken), false, `still valid: ${JSON.stringify(broken)}`);
        }),
        { seed: 42, numRuns: 100 },
      );
    });
  }

  it('an extra key on a closed body makes it invalid, __proto__ included', () => {
    const schema = UserCreateBody;
    fc.assert(
      fc.property(
        validValue(plain(schema)),
        oddKey.filter((k) => k !== 'name' && k !== 'role'),
        (v, key) => {
          const broken = applyMutation(plain(schema), v, { kind: 'extra-key', at: 0, key, with: 1 });
          assert.ok(Object.prototype.hasOwnProperty.call(broken, key), `the key ${JSON.stringify(key)} is an own property`);
          assert.equal(Value.Check(schema, broken), false);
        },
      ),
      { seed: 42, numRuns: 100 },
    );
  });

  it('invalidValue breaks the value somewhere (most examples fail the schema)', () => {
    const samples = fc.sample(invalidValue(plain(LabelCreateBody), fc.constantFrom<unknown>(null, 'x', -1, []), oddKey), {
      seed: 7,
      numRuns: 200,
    });
    const rejected = samples.filter((v) => !Value.Check(LabelCreateBody, v)).length;
    assert.ok(rejected >= 150, `only ${rejected} of 200 broken values were invalid`);
  });

  it('hostileInside puts the hostile value under a plain key of metadata/options and the body stays valid', () => {
    const marker = { deep: [[[['x']]]] };
    for (const [name, schema] of [
      ['LabelCreateBody', LabelCreateBody],
      ['ApplicationCreateBody', ApplicationCreateBody],
    ] as const) {
      const samples = fc.sample(hostileInside(plain(schema), fc.constant(marker)), { seed: 3, numRuns: 50 });
      for (const v of samples) {
        assert.ok(Value.Check(schema, v), `${name}: still valid: ${JSON.stringify(v)}`);
        assert.ok(JSON.stringify(v).includes(JSON.stringify(marker)), `${name}: the hostile value is inside: ${JSON.stringify(v)}`);
      }
    }
  });

  it('replaceAt/withKey copy instead of mutating, and write __proto__ as an own key', () => {
    const original = { a: { b: [1, 2] } };
    const copy = replaceAt(original, ['a', 'b', 1], 'x') as { a: { b: unknown[] } };
    assert.deepEqual(original, { a: { b: [1, 2] } });
    assert.deepEqual(copy, { a: { b: [1, 'x'] } });
    const poisoned = withKey({}, '__proto__', { role: 'admin' });
    assert.equal(Object.getPrototypeOf(poisoned), Object.prototype);
    assert.equal(toJsonText(poisoned), '{"__proto__":{"role":"admin"}}');
    assert.deepEqual(pathsOf({ x: [true] }), [[], ['x'], ['x', 0]]);
  });
});

describe('fuzz-values: deep and wide bodies as text', () => {
  it('deepText nests exactly `depth` levels and parses back', () => {
    for (const kind of ['array', 'object', 'mixed'] as const) {
      let v: unknown = JSON.parse(deepText(1000, kind));
      let depth = 0;
      while (v !== null && typeof v === 'object') {
        v = Array.isArray(v) ? v[0] : (v as { a: unknown }).a;
        depth++;
      }
      assert.equal(depth, 1000, kind);
      assert.equal(v, 1);
    }
  });

  it('wideText has n entries; RawJson goes into JSON and YAML bodies verbatim', () => {
    assert.equal(Object.keys(JSON.parse(wideText(1234, 'object')) as object).length, 1234);
    const body = { name: 'x', metadata: new RawJson(wideText(3, 'array'), 'wide') };
    assert.equal(toJsonText(body), '{"name":"x","metadata":[0,1,2]}');
    assert.deepEqual(parseYaml(toYamlText(body)), { name: 'x', metadata: [0, 1, 2] });
    assert.deepEqual(parseYaml(toYamlText({ name: 'y', n: 2 })), { name: 'y', n: 2 });
  });
});
