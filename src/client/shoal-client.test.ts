import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer } from 'node:net';
import { ShoalApiError, ShoalClient, ShoalConnectionError } from './index.js';
import { startFakeApi, type FakeApi } from './testing/fake-api.js';
import { makeTestTls, type TestTls } from './testing/test-tls.js';

const APP = {
  uid: '0b7d6c1e-3f1a-4c2b-9d7e-1a2b3c4d5e6f',
  label_uid: '1b7d6c1e-3f1a-4c2b-9d7e-1a2b3c4d5e6f',
  owner: 'ci',
  metadata: { JOB: '42' },
  created_at: '2024-01-01T00:00:00.000Z',
  state: { status: 'NEW', description: '', created_at: '2024-01-01T00:00:00.000Z' },
};

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('ShoalClient over plain HTTP', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi();
    api.route('GET', '/api/v1/users/me', () => ({ json: { name: 'ci', role: 'user', created_at: APP.created_at } }));
    api.route('POST', '/api/v1/applications', (req) => ({
      status: 201,
      json: { ...APP, metadata: (JSON.parse(req.body) as { metadata: unknown }).metadata },
    }));
    api.route('GET', '/api/v1/labels', () => ({ json: { items: [], next_cursor: 'abc' } }));
    api.route('GET', '/api/v1/nodes', () => ({
      json: {
        items: [
          {
            name: 'n1',
            address: 'https://127.0.0.1:8001',
            capacity: { cpu: 4, ram: 8, cpu_overbook: 1, ram_overbook: 1 },
            used: { cpu: 0, ram: 0 },
            tags: {},
            drivers: [],
            maintenance: false,
            alive: true,
            heartbeat_at: APP.created_at,
            started_at: APP.created_at,
          },
        ],
      },
    }));
    api.route('GET', `/api/v1/applications/${APP.uid}/states`, () => ({
      json: [APP.state],
      offSchema: 'a bare array: the client accepts lists in that form too',
    }));
    api.route('GET', `/api/v1/applications/${APP.uid}/console`, () => ({ text: 'boot ok\n' }));
    api.route('GET', `/api/v1/applications/${APP.uid}/resource`, () => ({
      status: 404,
      json: { error: { code: 'NOT_FOUND', message: 'application has no resource', details: { status: 'NEW' } } },
    }));
    api.route('POST', `/api/v1/applications/${APP.uid}/deallocate`, () => ({
      status: 502,
      text: '<html>bad gateway</html>',
      offSchema: 'a proxy in front of the node answers HTML',
    }));
    api.route('GET', '/api/v1/resources', () => ({ json: { nope: true }, offSchema: 'not a page: the client must refuse it' }));
  });
  after(() => api.close());

  it('sends Basic user:token when a user is given, Bearer otherwise', async () => {
    await new ShoalClient({ url: api.url, user: 'ci', token: 's3cret' }).me();
    await new ShoalClient({ url: api.url, token: 's3cret' }).me();
    const [basic, bearer] = api.requests.filter((r) => r.path === '/api/v1/users/me').slice(-2);
    assert.equal(basic!.headers.authorization, `Basic ${Buffer.from('ci:s3cret').toString('base64')}`);
    assert.equal(bearer!.headers.authorization, 'Bearer s3cret');
  });

  it('accepts a node URL that already ends in /api/v1 and sends JSON bodies', async () => {
    const client = new ShoalClient({ url: `${api.url}/api/v1/`, token: 't' });
    const app = await client.createApplication({ label: 'tiny', metadata: { JOB: '42' } });
    assert.equal(app.uid, APP.uid);
    const req = api.requests.at(-1)!;
    assert.equal(req.path, '/api/v1/applications');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(req.body), { label: 'tiny', metadata: { JOB: '42' } });
  });

  it('encodes query parameters and keeps next_cursor of a page', async () => {
    const page = await new ShoalClient({ url: api.url, token: 't' }).listLabels({ name: 'a b', version: 'latest', limit: 5 });
    assert.equal(page.next_cursor, 'abc');
    const req = api.requests.at(-1)!;
    assert.equal(req.query.get('name'), 'a b');
    assert.equal(req.query.get('version'), 'latest');
    assert.equal(req.query.get('limit'), '5');
  });

  it('accepts lists as {items} or as a bare array, and rejects anything else', async () => {
    const client = new ShoalClient({ url: api.url, token: 't' });
    assert.deepEqual(
      (await client.listNodes()).map((n) => n.name),
      ['n1'],
    );
    assert.equal((await client.listStates(APP.uid))[0]!.status, 'NEW');
    await assert.rejects(client.listResources(), (e: unknown) => e instanceof ShoalConnectionError && e.code === 'BAD_RESPONSE');
  });

  it('returns console output as text', async () => {
    assert.equal(await new ShoalClient({ url: api.url, token: 't' }).getConsole(APP.uid), 'boot ok\n');
  });

  it('turns the API error shape into ShoalApiError with status, code, message and details', async () => {
    const err = await new ShoalClient({ url: api.url, token: 't' }).getResource(APP.uid).catch((e: unknown) => e);
    assert.ok(err instanceof ShoalApiError);
    assert.equal(err.status, 404);
    assert.equal(err.code, 'NOT_FOUND');
    assert.equal(err.message, 'application has no resource');
    assert.deepEqual(err.details, { status: 'NEW' });
  });

  it('gives a non-JSON error answer the code HTTP_<status> and a snippet of the body', async () => {
    const err = await new ShoalClient({ url: api.url, token: 't' }).deallocate(APP.uid).catch((e: unknown) => e);
    assert.ok(err instanceof ShoalApiError);
    assert.equal(err.status, 502);
    assert.equal(err.code, 'HTTP_502');
    assert.match(err.message, /502 Bad Gateway: <html>bad gateway/);
  });

  it('reports a refused connection as UNREACHABLE naming the URL', async () => {
    const port = await closedPort();
    const err = await new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't' }).me().catch((e: unknown) => e);
    assert.ok(err instanceof ShoalConnectionError);
    assert.equal(err.code, 'UNREACHABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*refused`));
  });

  it('times out a request that gets no answer', async () => {
    const silent = createServer(() => undefined); // accepts and never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as { port: number }).port;
      const err = await new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't', timeoutMs: 300 }).me().catch((e: unknown) => e);
      assert.ok(err instanceof ShoalConnectionError);
      assert.equal(err.code, 'TIMEOUT');
    } finally {
      silent.close();
    }
  });

  it('rejects a URL that is not http(s)', () => {
    assert.throws(() => new ShoalClient({ url: 'ftp://x', token: 't' }), /scheme must be http or https/);
    assert.throws(() => new ShoalClient({ url: 'not a url', token: 't' }), /invalid node URL/);
  });
});

describe('ShoalClient over TLS with the node CA', () => {
  let api: FakeApi;
  let tls: TestTls;
  before(async () => {
    tls = makeTestTls();
    api = await startFakeApi(tls);
    api.route('GET', '/api/v1/users/me', () => ({ json: { name: 'admin', role: 'admin', created_at: APP.created_at } }));
  });
  after(() => api.close());

  it('trusts the server when given its CA', async () => {
    const me = await new ShoalClient({ url: api.url, token: 't', ca: tls.caPem }).me();
    assert.equal(me.name, 'admin');
  });

  it('refuses an untrusted certificate with a TLS error that says to pass --ca', async () => {
    const err = await new ShoalClient({ url: api.url, token: 't' }).me().catch((e: unknown) => e);
    assert.ok(err instanceof ShoalConnectionError);
    assert.equal(err.code, 'TLS');
    assert.match(err.message, /--ca/);
  });

  it("refuses a certificate signed by another CA, saying the CA given is not this node's", async () => {
    const other = makeTestTls('another CA');
    const err = await new ShoalClient({ url: api.url, token: 't', ca: other.caPem }).me().catch((e: unknown) => e);
    assert.ok(err instanceof ShoalConnectionError);
    assert.equal(err.code, 'TLS');
    assert.match(err.message, /the CA given .* did not sign the node's certificate/);
  });

  /** A stand-in node whose certificate has `flaws`, and the TLS error a client trusting its CA gets. */
  async function tlsErrorWith(flaws: Parameters<typeof makeTestTls>[1]): Promise<ShoalConnectionError> {
    const bad = makeTestTls('flawed CA', flaws);
    const node = await startFakeApi(bad);
    try {
      const err = await new ShoalClient({ url: node.url, token: 't', ca: bad.caPem }).me().catch((e: unknown) => e);
      assert.ok(err instanceof ShoalConnectionError, String(err));
      assert.equal(err.code, 'TLS');
      return err;
    } finally {
      await node.close();
    }
  }

  it('a certificate for another host name: says to connect with a name it lists, not --ca', async () => {
    const err = await tlsErrorWith({ hostName: 'node.invalid' });
    assert.match(err.message, /does not name "127\.0\.0\.1": connect with a name or address it lists/);
    assert.match(err.message, /--ca does not change this/);
  });

  it('an expired certificate: says to renew it on the node, not --ca', async () => {
    const err = await tlsErrorWith({ expired: true });
    assert.match(err.message, /certificate has expired: renew it on the node/);
    assert.match(err.message, /--ca does not change this/);
  });

  it('says to use https:// when plain HTTP is spoken to a TLS node', async () => {
    const err = await new ShoalClient({ url: api.url.replace('https:', 'http:'), token: 't' }).me().catch((e: unknown) => e);
    assert.ok(err instanceof ShoalConnectionError);
    assert.match(err.message, /use an https:\/\/ URL/);
  });

  it('fails clearly when https is spoken to a plain-HTTP node', async () => {
    const plain = await startFakeApi();
    try {
      const err = await new ShoalClient({ url: plain.url.replace('http:', 'https:'), token: 't', ca: tls.caPem })
        .me()
        .catch((e: unknown) => e);
      assert.ok(err instanceof ShoalConnectionError);
      assert.equal(err.code, 'TLS');
      assert.match(err.message, /without TLS\? then use an http:\/\/ URL/);
    } finally {
      await plain.close();
    }
  });
});
