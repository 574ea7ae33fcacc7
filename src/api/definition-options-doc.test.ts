import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { LabelCreate } from '../model/label.js';
import { describeDefinitionOptions } from './definition-options-doc.js';

const dockerOptions = { type: 'object', properties: { image: { type: 'string' } }, required: ['image'], additionalProperties: false };
const testOptions = { type: 'object', properties: { fail_allocate: { type: 'integer' } }, additionalProperties: false };

describe('describeDefinitionOptions (the OpenAPI view of definitions[].options)', () => {
  it("lists every driver's options schema for a label definition's options, leaving the rest as it was", () => {
    const route = { body: LabelCreate, response: { 201: Type.Object({ uid: Type.String() }) } };
    const out = describeDefinitionOptions(route, { docker: dockerOptions, test: testOptions });
    const options = (
      out.body as unknown as {
        properties: { definitions: { items: { properties: Record<string, { anyOf?: object[]; description?: string }> } } };
      }
    ).properties.definitions.items.properties.options;
    assert.deepEqual(options?.anyOf, [
      { ...dockerOptions, title: 'options of the docker driver' },
      { ...testOptions, title: 'options of the test driver' },
    ]);
    assert.match(options?.description ?? '', /Drivers: docker, test/);
    assert.deepEqual(out.response, JSON.parse(JSON.stringify(route.response)), 'schemas without a definition are copied unchanged');
    assert.equal(
      (LabelCreate.properties.definitions.items.properties.options as { anyOf?: unknown }).anyOf,
      undefined,
      'the route schema itself is not changed',
    );
  });

  it('returns the schema itself when no driver describes its options', () => {
    const route = { body: LabelCreate };
    assert.equal(describeDefinitionOptions(route, {}), route);
  });
});
