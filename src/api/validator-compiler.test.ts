import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TSchema } from '@sinclair/typebox';
import { Type } from '@sinclair/typebox';
import { LabelCreate, TaskCreate } from '../model/index.js';
import { closed } from './closed-schema.js';
import { typeboxValidatorCompiler, type FieldProblem } from './validator-compiler.js';

type Result = { value?: unknown; error?: FieldProblem[] };

function validate(schema: TSchema, httpPart: string, data: unknown): Result {
  const fn = typeboxValidatorCompiler({ schema, httpPart, method: 'POST', url: '/x' });
  return fn(data) as Result;
}

function problems(schema: TSchema, data: unknown, httpPart = 'body'): string[] {
  const r = validate(schema, httpPart, data);
  assert.ok(r.error, `expected ${JSON.stringify(data)} to be refused`);
  return r.error.map((e) => `${e.instancePath} ${e.message}`);
}

const label = (over: Record<string, unknown> = {}, req: Record<string, unknown> = { cpu: 1, ram: 1 }) => ({
  name: 'busybox',
  definitions: [{ driver: 'test', options: { anything: { goes: [1] } }, requirements: req }],
  ...over,
});

describe('request validation', () => {
  const body = closed(LabelCreate);

  it('accepts a valid label and keeps free-form driver options', () => {
    const r = validate(body, 'body', label({ metadata: { K: 'v', 'a.b-c_d': { nested: true } } }));
    assert.equal(r.error, undefined);
    assert.deepEqual((r.value as { definitions: Array<{ options: unknown }> }).definitions[0]?.options, { anything: { goes: [1] } });
  });

  it('names the field of a value out of range, a missing field and a mistyped one', () => {
    assert.deepEqual(problems(body, label({}, { cpu: 0, ram: 1 })), ['/definitions/0/requirements/cpu must be >= 1']);
    assert.deepEqual(problems(body, label({}, { ram: 1 })), ['/definitions/0/requirements/cpu is required']);
    assert.deepEqual(problems(body, label({}, { cpu: '2', ram: 1 })), ['/definitions/0/requirements/cpu must be an integer']);
    assert.deepEqual(problems(body, label({ definitions: [] })), ['/definitions must have at least 1 item']);
    assert.deepEqual(problems(body, label({ name: 'Bad Name' })), ['/name is not valid: lowercase letters, digits, ".", "_", "-"']);
  });

  it('refuses unknown fields and metadata keys that break the key rule, naming them', () => {
    assert.deepEqual(problems(body, label({ lifetme: '2h' })), ['/lifetme is not a known field (remove it or check its spelling)']);
    assert.deepEqual(problems(body, label({}, { cpu: 1, ram: 1, gpu: 1 })), [
      '/definitions/0/requirements/gpu is not a known field (remove it or check its spelling)',
    ]);
    const [p] = problems(body, label({ metadata: { '9lives': 1 } }));
    assert.match(p ?? '', /^\/metadata\/9lives is not an allowed key/);
  });

  it('lists the allowed values of an enum and fills defaults', () => {
    const task = closed(TaskCreate);
    assert.deepEqual(problems(task, { task: 'backup' }), ['/task must be "snapshot"']);
    assert.deepEqual(problems(task, { task: 'snapshot', when: 'LATER' }), ['/when must be one of: "NOW", "DEALLOCATE"']);
    assert.deepEqual(validate(task, 'body', { task: 'snapshot' }).value, { task: 'snapshot', when: 'NOW' });
  });

  it('says a missing body is required, and does not coerce body types', () => {
    assert.deepEqual(problems(body, null), [' is required: send a JSON or YAML object']);
    assert.deepEqual(problems(Type.Object({ n: Type.Integer() }), { n: '5' }), ['/n must be an integer']);
  });

  it('converts query strings and params to the schema types', () => {
    const q = Type.Object({
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
      version: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Literal('latest')])),
    });
    assert.deepEqual(validate(q, 'querystring', { limit: '5', version: '3' }).value, { limit: 5, version: 3 });
    assert.deepEqual(validate(q, 'querystring', { version: 'latest' }).value, { version: 'latest' });
    assert.deepEqual(problems(q, { limit: '5000' }, 'querystring'), ['/limit must be <= 1000']);
    assert.deepEqual(problems(q, { version: 'newest' }, 'querystring'), ['/version must be one of: an integer >= 1, "latest"']);
    const p = Type.Object({ uid: Type.String({ format: 'uuid' }) });
    assert.deepEqual(problems(p, { uid: 'nope' }, 'params'), ['/uid must be a UUID']);
    assert.equal(validate(p, 'params', { uid: '6f1c1b2e-8a7b-4c1d-9e2f-0a1b2c3d4e5f' }).error, undefined);
  });
});

describe('closed()', () => {
  it('closes nested objects and records but not schemas that say otherwise, and keeps the original untouched', () => {
    const open = Type.Object({ a: Type.Object({ b: Type.String() }), free: Type.Object({}, { additionalProperties: true }) });
    const c = closed(open) as unknown as {
      additionalProperties: unknown;
      properties: { a: { additionalProperties: unknown }; free: { additionalProperties: unknown } };
    };
    assert.equal(c.additionalProperties, false);
    assert.equal(c.properties.a.additionalProperties, false);
    assert.equal(c.properties.free.additionalProperties, true);
    assert.equal((open as unknown as { additionalProperties?: unknown }).additionalProperties, undefined);
  });
});
