import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:net';
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

  /** Sends raw bytes to the listening API and returns the whole answer (the server closes: Connection: close). */
  async function raw(head: string): Promise<string> {
    const url = new URL(t.url || (await t.listen()));
    return new Promise((resolve, reject) => {
      const s = connect(Number(url.port), url.hostname);
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('latin1')));
      s.on('error', reject);
      s.on('close', () => resolve(out));
      s.write(head);
    });
  }

  it('an HTTP/1.1 request without Host → 400 INVALID in the one error shape (HTTP/1.0 needs none)', async () => {
    const answer = await raw('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /content-type: application\/json/i);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string; message: string } };
    assert.deepEqual(body, { error: { code: 'INVALID', message: 'an HTTP/1.1 request needs a Host header' } });
    assert.match(await raw('GET /health HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
    assert.match(await raw('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 200 /);
  });
});
