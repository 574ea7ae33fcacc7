import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { bearer, createUser, rawGet, startApiNode, testLabelBody, waitForState, type ApiTestNode } from '../testing/api-harness.js';
import { createMetaHandler } from './meta-handler.js';
import { createMetaServer, type MetaServer } from './meta-server.js';

const NOT_FOUND = '{"error":{"code":"NOT_FOUND","message":"not found"}}';

describe('Meta API: GET /meta/v1/data from the resource itself', () => {
  let t: ApiTestNode;
  let meta: MetaServer;
  let token: string;
  let uid: string;
  let ipaddr: string;
  let hwaddr: string;
  let other: { uid: string; ipaddr: string };

  async function allocate(metadata: Record<string, unknown>): Promise<{ uid: string; ipaddr: string; hwaddr: string }> {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/v1/applications',
      headers: bearer(token),
      payload: { label: 'meta', metadata },
    });
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json<{ uid: string }>().uid;
    await waitForState(t, token, id, 'ALLOCATED');
    const res = (await t.app.inject({ url: `/api/v1/applications/${id}/resource`, headers: bearer(token) })).json<{
      ipaddr: string;
      hwaddr: string;
    }>();
    return { uid: id, ipaddr: res.ipaddr, hwaddr: res.hwaddr };
  }

  before(async () => {
    t = await startApiNode();
    meta = await createMetaServer(t.core, { host: '127.0.0.1', port: 0 });
    token = await createUser(t, 'ci');
    const label = await t.app.inject({
      method: 'POST',
      url: '/api/v1/labels',
      headers: bearer(token),
      payload: testLabelBody('meta', {
        LABEL_KEY: 'label-value',
        SHARED: 'from-label',
        CI_URL: 'https://ci.example/x',
        NESTED: { a: [1, 2] },
      }),
    });
    assert.equal(label.statusCode, 201, label.body);
    ({ uid, ipaddr, hwaddr } = await allocate({ JOB: '42', SHARED: 'from-app', CI_TOKEN: "it's $secret" }));
    other = await allocate({ JOB: 'other' });
    assert.notEqual(ipaddr, other.ipaddr);
  });
  after(async () => {
    await meta?.close();
    await t?.close();
  });

  const get = (query = '', localAddress = ipaddr, path = '/meta/v1/data') =>
    rawGet(`http://${meta.address}${path}${query}`, { localAddress });

  it('answers the merged metadata (application keys win) to the resource, as JSON by default', async () => {
    const r = await get();
    assert.equal(r.status, 200, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(r.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(r.body), {
      LABEL_KEY: 'label-value',
      SHARED: 'from-app',
      CI_URL: 'https://ci.example/x',
      NESTED: { a: [1, 2] },
      JOB: '42',
      CI_TOKEN: "it's $secret",
    });
    const theOther = await get('', other.ipaddr);
    assert.equal((JSON.parse(theOther.body) as { JOB?: unknown }).JOB, 'other', 'each resource reads only its own metadata');
  });

  it('formats env and yaml, and filters by prefix', async () => {
    const env = await get('?format=env&prefix=CI_');
    assert.equal(env.status, 200);
    assert.match(String(env.headers['content-type']), /^text\/plain/);
    assert.equal(env.body, "CI_URL='https://ci.example/x'\nCI_TOKEN='it'\\''s $secret'\n");
    const yaml = await get('?format=yaml');
    assert.equal(yaml.status, 200);
    assert.equal((parseYaml(yaml.body) as { NESTED: unknown }).NESTED !== undefined, true);
    assert.deepEqual(parseYaml(yaml.body), JSON.parse((await get()).body));
    const none = await get('?prefix=NOPE_');
    assert.deepEqual(JSON.parse(none.body), {});
  });

  it('a bad format → 400; anyone who is no allocated resource, or another path → the same 404', async () => {
    const bad = await get('?format=xml');
    assert.equal(bad.status, 400);
    assert.match(bad.body, /format must be one of: json, env, yaml/);
    for (const [what, r] of [
      ['from 127.0.0.1', await get('', '127.0.0.1')],
      ['from an unused loopback address', await get('?format=env', '127.250.250.250')],
      ['another path', await get('', ipaddr, '/meta/v1/other')],
      ['the root', await get('', ipaddr, '/')],
    ] as const) {
      assert.equal(r.status, 404, what);
      assert.equal(r.body, NOT_FOUND, what);
    }
    const post = await rawGet(`http://${meta.address}/meta/v1/data`, { localAddress: ipaddr, method: 'POST' });
    assert.equal(post.status, 404);
  });

  it('a per-resource channel answers as its resource whatever the address', async () => {
    const server: Server = createServer(createMetaHandler(t.core, () => ({ kind: 'hwaddr', hwaddr })));
    const stranger: Server = createServer(createMetaHandler(t.core, () => ({ kind: 'hwaddr', hwaddr: '02:00:00:00:00:01' })));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => stranger.listen(0, '127.0.0.1', r));
    try {
      const r = await rawGet(`http://127.0.0.1:${(server.address() as AddressInfo).port}/meta/v1/data?prefix=JOB`);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body), { JOB: '42' });
      const s = await rawGet(`http://127.0.0.1:${(stranger.address() as AddressInfo).port}/meta/v1/data`);
      assert.equal(s.status, 404);
      assert.equal(s.body, NOT_FOUND);
    } finally {
      server.closeAllConnections();
      stranger.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => stranger.close(() => r()));
    }
  });

  it('forgets a resource once it is deallocated', async () => {
    const d = await t.app.inject({ method: 'POST', url: `/api/v1/applications/${uid}/deallocate`, headers: bearer(token) });
    assert.equal(d.statusCode, 202);
    await waitForState(t, token, uid, 'DEALLOCATED');
    const r = await get();
    assert.equal(r.status, 404);
    assert.equal(r.body, NOT_FOUND);
    assert.equal((await get('', other.ipaddr)).status, 200, 'the other resource still reads its own');
  });
});
