import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { DriverError, invalidConfig, invalidDefinition } from '../../contract/index.js';
import { ImageRefSchema } from './option-schemas.js';
import { checkAgainstSchema, describeFields, schemaKeys } from './schema-check.js';

const Schema = Type.Object(
  {
    image: Type.String({ minLength: 1, description: 'the image to run' }),
    images: Type.Optional(Type.Array(ImageRefSchema, { maxItems: 2 })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    mode: Type.Optional(Type.Union([Type.Literal('a'), Type.Literal('b')])),
    net: Type.Optional(Type.Object({ name: Type.Optional(Type.String()) }, { additionalProperties: false })),
    user: Type.Optional(Type.String({ pattern: '^[a-z]+$', problem: 'must be a user name' })),
  },
  { additionalProperties: false },
);

const options = { prefix: 'options.', invalid: invalidDefinition, unknown: 'unknown option' };
const sum = `sha256:${'a'.repeat(64)}`;

function refused(doc: Record<string, unknown>, field: string, words: RegExp, opts = options): void {
  assert.throws(
    () => checkAgainstSchema(Schema, doc, opts),
    (err: unknown) => err instanceof DriverError && err.field === field && err.message.startsWith(`${field}: `) && words.test(err.message),
  );
}

describe('checkAgainstSchema', () => {
  it('accepts a valid document and treats null as absent', () => {
    assert.deepEqual(checkAgainstSchema(Schema, { image: 'x', port: null, images: [{ url: 'file:///a', sum }] }, options), {
      image: 'x',
      images: [{ url: 'file:///a', sum }],
    });
  });

  it('names the field of the first problem by its path', () => {
    refused({ image: 'x', images: [{ url: 'file:///a', sum: 3 }] }, 'options.images[0].sum', /must be a string, got 3/);
    refused({ image: 'x', images: [{ url: 'file:///a', sum, size: 1 }] }, 'options.images[0].size', /unknown field \(known: url, sum\)/);
    refused({ image: 'x', net: { name: 'n', kind: 'bridge' } }, 'options.net.kind', /unknown field \(known: name\)/);
    refused({ image: 'x', port: 0 }, 'options.port', /whole number from 1 to 65535, got 0/);
    refused({ image: 'x', port: 1.5 }, 'options.port', /whole number/);
    refused({ image: 'x', mode: 'c' }, 'options.mode', /one of "a", "b", got "c"/);
    refused({ image: 'x', user: 'Root' }, 'options.user', /must be a user name, got "Root"/);
    refused(
      {
        image: 'x',
        images: [
          { url: 'u', sum },
          { url: 'u', sum },
          { url: 'u', sum },
        ],
      },
      'options.images',
      /at most 2 items/,
    );
    refused({ image: 'x', images: 'u' }, 'options.images', /must be a list/);
  });

  it('refuses unknown top-level keys listing the known ones, and missing required ones with their description', () => {
    refused({ image: 'x', privileged: true }, 'options.privileged', /unknown option \(known: image, images, port, mode, net, user\)/);
    refused({}, 'options.image', /is required: the image to run/);
  });

  it('makes the error the caller asks for (INVALID_CONFIG for configs, no prefix)', () => {
    assert.throws(
      () => checkAgainstSchema(Schema, { image: 'x', port: 'eighty' }, { prefix: '', invalid: invalidConfig, unknown: 'unknown key' }),
      (err: unknown) => err instanceof DriverError && err.code === 'INVALID_CONFIG' && err.field === 'port',
    );
  });

  it('lists keys and describes them for the API document', () => {
    assert.deepEqual(schemaKeys(Schema), ['image', 'images', 'port', 'mode', 'net', 'user']);
    assert.match(describeFields(Schema), /^`image` \(required\): the image to run; `images`: /);
  });
});
