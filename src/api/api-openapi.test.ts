import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startApiNode, type ApiTestNode } from './testing/api-harness.js';

/** PRODUCT.md §5: every route of the contract, as OpenAPI paths. */
const ROUTES: Array<[method: string, path: string, success: number, body?: true]> = [
  ['get', '/health', 200],
  ['get', '/metrics', 200],
  ['get', '/api/v1/users', 200],
  ['post', '/api/v1/users', 201, true],
  ['get', '/api/v1/users/me', 200],
  ['get', '/api/v1/users/{name}', 200],
  ['delete', '/api/v1/users/{name}', 204],
  ['get', '/api/v1/users/{name}/keys', 200],
  ['post', '/api/v1/users/{name}/keys', 201, true],
  ['delete', '/api/v1/users/{name}/keys/{fingerprint}', 204],
  ['post', '/api/v1/users/{name}/tokens', 201, true],
  ['get', '/api/v1/users/{name}/tokens', 200],
  ['delete', '/api/v1/users/{name}/tokens/{id}', 204],
  ['get', '/api/v1/labels', 200],
  ['post', '/api/v1/labels', 201, true],
  ['get', '/api/v1/labels/{uid}', 200],
  ['delete', '/api/v1/labels/{uid}', 204],
  ['get', '/api/v1/label-names/{name}', 200],
  ['put', '/api/v1/label-names/{name}', 200, true],
  ['get', '/api/v1/applications', 200],
  ['post', '/api/v1/applications', 201, true],
  ['get', '/api/v1/applications/{uid}', 200],
  ['get', '/api/v1/applications/{uid}/state', 200],
  ['get', '/api/v1/applications/{uid}/states', 200],
  ['get', '/api/v1/applications/{uid}/resource', 200],
  ['post', '/api/v1/applications/{uid}/deallocate', 202],
  ['get', '/api/v1/applications/{uid}/sessions', 200],
  ['get', '/api/v1/applications/{uid}/tasks', 200],
  ['post', '/api/v1/applications/{uid}/tasks', 201, true],
  ['get', '/api/v1/applications/{uid}/console', 200],
  ['get', '/api/v1/resources', 200],
  ['get', '/api/v1/nodes', 200],
  ['get', '/api/v1/nodes/this', 200],
  ['get', '/api/v1/nodes/this/backup', 200],
  ['post', '/api/v1/nodes/this/maintenance', 200, true],
  ['post', '/api/v1/nodes/{name}/forget', 200],
  ['get', '/api/v1/nodes/{name}/images', 200],
  ['delete', '/api/v1/nodes/{name}/images/{id}', 204],
  ['get', '/api/v1/nodes/{name}/disks', 200],
  ['delete', '/api/v1/nodes/{name}/disks/{id}', 204],
  ['get', '/api/v1/events', 200],
];

interface Operation {
  summary?: string;
  tags?: string[];
  parameters?: Array<{ in: string; name: string; schema?: object }>;
  requestBody?: { content: Record<string, { schema?: { properties?: object } }> };
  responses: Record<string, { description: string; content?: Record<string, { schema?: object }> }>;
  security?: unknown[];
}

describe('OpenAPI document', () => {
  let t: ApiTestNode;
  let spec: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

  before(async () => {
    t = await startApiNode();
    const r = await t.app.inject({ url: '/api/openapi.json' });
    assert.equal(r.statusCode, 200);
    spec = r.json<typeof spec>();
  });
  after(async () => {
    await t?.close();
  });

  it('is OpenAPI 3 and lists exactly the contract routes', () => {
    assert.match(spec.openapi, /^3\./);
    const documented = Object.entries(spec.paths)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
      .sort();
    assert.deepEqual(documented, ROUTES.map(([m, p]) => `${m} ${p}`).sort());
  });

  for (const [method, path, success, body] of ROUTES) {
    it(`documents ${method.toUpperCase()} ${path} with tags, summary, request and response schemas`, () => {
      const op = spec.paths[path]?.[method];
      assert.ok(op, 'documented');
      assert.ok(op.summary && op.summary.length > 5, 'summary');
      assert.ok(op.tags && op.tags.length > 0, 'tags');
      const ok = op.responses[String(success)];
      assert.ok(ok, `response ${success}`);
      if (success !== 204) assert.ok(ok.content && Object.values(ok.content)[0]?.schema, `response ${success} has a schema`);
      for (const p of path.match(/\{(\w+)\}/g) ?? []) {
        const name = p.slice(1, -1);
        assert.ok(
          op.parameters?.some((x) => x.in === 'path' && x.name === name && x.schema),
          `path parameter ${name}`,
        );
      }
      if (body) {
        assert.ok(op.requestBody, 'request body');
        assert.deepEqual(Object.keys(op.requestBody.content).sort(), ['application/json', 'application/yaml']);
        assert.ok(op.requestBody.content['application/json']?.schema?.properties, 'request body schema');
        assert.ok(op.responses['413'] && op.responses['415'], 'oversize and media type errors');
      }
      const errors = Object.keys(op.responses).filter((s) => s.startsWith('4') || s.startsWith('5'));
      assert.ok(errors.length > 0, 'error responses');
      for (const s of errors) {
        const schema = op.responses[s]?.content?.['application/json']?.schema as { properties?: { error?: unknown } } | undefined;
        assert.ok(schema?.properties?.error, `${s} documents the error shape`);
      }
      if (path.startsWith('/api/v1/')) {
        assert.ok(errors.includes('401'), '401 documented');
        assert.equal(op.security, undefined, 'inherits the global security (Basic or Bearer)');
      }
    });
  }

  it('documents the lifecycle steps and names the model schemas', () => {
    const text = JSON.stringify(spec.paths);
    for (const step of ['Step 1', 'Step 2', 'Step 3', 'Step 4', 'Step 5', 'Step 6']) assert.ok(text.includes(step), step);
    for (const name of ['Label', 'Application', 'ApplicationState', 'Resource', 'Task', 'User', 'Node']) {
      assert.ok(name in spec.components.schemas, `component ${name}`);
    }
    assert.equal(spec.paths['/health']?.get?.security?.length, 0, 'health needs no auth');
  });

  it('serves a docs page', async () => {
    const r = await t.app.inject({ url: '/api/docs/' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/html/);
    assert.match(r.body, /swagger/i);
  });
});
