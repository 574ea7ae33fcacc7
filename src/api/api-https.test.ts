import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bearer, startApiNode, type ApiTestNode } from './testing/api-harness.js';
import { ensureTls, type TlsMaterial } from './tls.js';

function get(url: string, ca: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers, timeout: 15_000, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('API over HTTPS with the generated CA', () => {
  let dir: string;
  let tls: TlsMaterial;
  let t: ApiTestNode;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-api-https-'));
    tls = await ensureTls(dir, ['127.0.0.1', 'localhost']);
    t = await startApiNode({ api: { https: { key: tls.key, cert: tls.cert } } });
    await t.listen();
  });
  after(async () => {
    await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the API to a client that trusts the CA', async () => {
    assert.match(t.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const h = await get(`${t.url}/health`, tls.ca);
    assert.equal(h.status, 200);
    const me = await get(`${t.url}/api/v1/users/me`, tls.ca, bearer(t.adminToken));
    assert.equal(me.status, 200);
    assert.equal((JSON.parse(me.body) as { name: string }).name, 'admin');
  });

  it('a client that does not trust the CA refuses the connection', async () => {
    const other = await ensureTls(join(dir, 'other'), []);
    await assert.rejects(get(`${t.url}/health`, other.ca), /self[- ]signed|unable to verify|certificate/i);
  });
});
