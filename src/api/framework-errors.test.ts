import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAX_PARAM_LENGTH } from './framework-errors.js';
import { bearer, createUser, startApiNode, type ApiTestNode } from './testing/api-harness.js';

describe('API: URLs the router cannot take answer 400 in the one error shape', () => {
  let t: ApiTestNode;
  let token: string;

  before(async () => {
    t = await startApiNode();
    token = await createUser(t, 'alice');
  });
  after(async () => {
    await t?.close();
  });

  async function get(url: string): Promise<{ status: number; body: unknown; type: string }> {
    const r = await t.app.inject({ method: 'GET', url, headers: bearer(token) });
    return { status: r.statusCode, body: r.json(), type: String(r.headers['content-type']) };
  }

  for (const url of ['/api/v1/users/%zz', '/api/v1/labels/%E0%A4%A', '/nowhere/%', '/api/v1/applications/%C0%AF']) {
    it(`bad percent-encoding: ${url}`, async () => {
      const r = await get(url);
      assert.equal(r.status, 400);
      assert.match(r.type, /^application\/json/);
      assert.deepEqual(Object.keys(r.body as object), ['error']);
      const e = (r.body as { error: { code: string; message: string } }).error;
      assert.deepEqual(Object.keys(e).sort(), ['code', 'message']);
      assert.equal(e.code, 'INVALID');
      assert.match(e.message, /URL is not valid/);
    });
  }

  it('a path parameter longer than the limit', async () => {
    const long = '%00'.repeat(MAX_PARAM_LENGTH + 1);
    for (const url of [`/api/v1/users/${long}`, `/api/v1/applications/${'a'.repeat(MAX_PARAM_LENGTH + 1)}/state`]) {
      const r = await get(url);
      assert.equal(r.status, 400, url);
      const e = (r.body as { error: { code: string; message: string } }).error;
      assert.equal(e.code, 'INVALID');
      assert.equal(e.message, `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
    }
  });

  it('a parameter at the limit still reaches the route (its own validation answers)', async () => {
    const r = await get(`/api/v1/applications/${'a'.repeat(MAX_PARAM_LENGTH)}`);
    assert.equal(r.status, 400);
    const e = (r.body as { error: { code: string; details?: unknown } }).error;
    assert.equal(e.code, 'INVALID');
    assert.ok(e.details !== undefined, 'the route validation names the field');
  });
});
