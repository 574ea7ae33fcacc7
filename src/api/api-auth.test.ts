import assert from 'node:assert/strict';
import { Agent, request as httpRequest } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { installErrorHandling, installShutdownGuard } from './error-handler.js';
import { AUTH_CHALLENGE } from './errors.js';
import { basic, bearer, createUser, startApiNode, type ApiTestNode } from './testing/api-harness.js';

describe('API authentication', () => {
  let t: ApiTestNode;
  let ciToken: string;

  before(async () => {
    t = await startApiNode();
    ciToken = await createUser(t, 'ci');
  });
  after(async () => {
    await t?.close();
  });

  it('refuses a request without credentials with 401, WWW-Authenticate and the error shape', async () => {
    const r = await t.app.inject({ url: '/api/v1/applications' });
    assert.equal(r.statusCode, 401);
    assert.equal(r.headers['www-authenticate'], AUTH_CHALLENGE);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const body = r.json<{ error: { code: string; message: string } }>();
    assert.equal(body.error.code, 'UNAUTHORIZED');
    assert.match(body.error.message, /Authorization: Bearer/);
  });

  it('refuses a bad token, a token under another name and a malformed header', async () => {
    for (const headers of [
      bearer('nope'),
      bearer(`${ciToken}x`),
      basic('admin', ciToken),
      basic('ci', t.adminToken),
      { authorization: 'Digest abc' },
      { authorization: 'Basic !!!' },
    ]) {
      const r = await t.app.inject({ url: '/api/v1/users/me', headers, remoteAddress: '10.0.0.50' });
      assert.equal(r.statusCode, 401, JSON.stringify(headers));
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'UNAUTHORIZED');
      assert.equal(r.headers['www-authenticate'], AUTH_CHALLENGE);
    }
  });

  it('accepts Basic user:token and Bearer token', async () => {
    for (const headers of [basic('ci', ciToken), bearer(ciToken)]) {
      const r = await t.app.inject({ url: '/api/v1/users/me', headers });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(Object.keys(r.json<object>()).sort(), ['created_at', 'id', 'name', 'role']);
      assert.match(r.json<{ id: string }>().id, /^ci\.[0-9a-f]{16}$/);
      assert.equal(r.json<{ name: string }>().name, 'ci');
    }
  });

  it('admin-only routes answer 403 to a user', async () => {
    const create = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(ciToken), payload: { name: 'eve' } });
    assert.equal(create.statusCode, 403);
    assert.equal(create.json<{ error: { code: string } }>().error.code, 'FORBIDDEN');
    const list = await t.app.inject({ url: '/api/v1/users', headers: bearer(ciToken) });
    assert.equal(list.statusCode, 403);
    const maint = await t.app.inject({
      method: 'POST',
      url: '/api/v1/nodes/this/maintenance',
      headers: bearer(ciToken),
      payload: { enabled: true },
    });
    assert.equal(maint.statusCode, 403);
    const users = await t.app.inject({ url: '/api/v1/users', headers: bearer(t.adminToken) });
    assert.deepEqual(
      users
        .json<{ items: Array<{ name: string }> }>()
        .items.map((u) => u.name)
        .sort(),
      ['admin', 'ci'],
    );
  });

  it('limits failed logins per address prefix: rotating addresses in a /24 does not help, valid credentials still work', async () => {
    // 20 failures (the default per prefix) from 20 addresses of one /24
    for (let i = 0; i < 20; i++) {
      const r = await t.app.inject({ url: '/api/v1/users/me', headers: bearer(`bad-${i}`), remoteAddress: `10.1.2.${i + 1}` });
      assert.equal(r.statusCode, 401, `attempt ${i + 1}`);
    }
    const limited = await t.app.inject({ url: '/api/v1/users/me', headers: bearer('bad-again'), remoteAddress: '10.1.2.200' });
    assert.equal(limited.statusCode, 429);
    const retry = Number(limited.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry > 0 && retry <= 60, `Retry-After ${limited.headers['retry-after']}`);
    const body = limited.json<{ error: { code: string; message: string } }>();
    assert.equal(body.error.code, 'TOO_MANY_REQUESTS');
    assert.match(body.error.message, /20 per address prefix/);
    // another user behind the same NAT logs in with a correct token (never used before: fully checked, not cached)
    const fresh = await createUser(t, 'behind-nat');
    const good = await t.app.inject({ url: '/api/v1/users/me', headers: bearer(fresh), remoteAddress: '10.1.2.7' });
    assert.equal(good.statusCode, 200, good.body);
    assert.equal(good.json<{ name: string }>().name, 'behind-nat');
    // another prefix is not affected, and requests without credentials are not counted
    assert.equal((await t.app.inject({ url: '/api/v1/users/me', headers: bearer('bad-x'), remoteAddress: '10.1.3.1' })).statusCode, 401);
    for (let i = 0; i < 25; i++) {
      assert.equal((await t.app.inject({ url: '/api/v1/users/me', remoteAddress: '10.1.4.5' })).statusCode, 401);
    }
    assert.equal((await t.app.inject({ url: '/api/v1/users/me', headers: bearer('bad-y'), remoteAddress: '10.1.4.5' })).statusCode, 401);
  });

  it('limits failed logins per user across addresses; a correct token of that user still works', async () => {
    const victim = await createUser(t, 'victim');
    const wrong = `${victim.split('.')[0]}.${'A'.repeat(43)}`;
    for (let i = 0; i < 10; i++) {
      const r = await t.app.inject({ url: '/api/v1/users/me', headers: basic('victim', wrong), remoteAddress: `10.60.${i}.1` });
      assert.equal(r.statusCode, 401, `attempt ${i + 1}`);
    }
    const limited = await t.app.inject({ url: '/api/v1/users/me', headers: basic('victim', wrong), remoteAddress: '10.61.0.1' });
    assert.equal(limited.statusCode, 429, 'the 11th failure for "victim", from a fresh prefix');
    assert.match(limited.json<{ error: { message: string } }>().error.message, /10 per user/);
    const right = await t.app.inject({ url: '/api/v1/users/me', headers: basic('victim', victim), remoteAddress: '10.62.0.1' });
    assert.equal(right.statusCode, 200, right.body);
  });

  it('health needs no credentials; metrics need an admin token from anywhere, loopback included', async () => {
    const h = await t.app.inject({ url: '/health', remoteAddress: '10.2.0.1' });
    assert.equal(h.statusCode, 200);
    assert.equal(h.json<{ status: string }>().status, 'ok');
    const local = await t.app.inject({ url: '/metrics' });
    assert.equal(local.statusCode, 401, 'loopback callers (test-driver resources live there) need a token too');
    const anon = await t.app.inject({ url: '/metrics', remoteAddress: '10.2.0.2' });
    assert.equal(anon.statusCode, 401);
    const user = await t.app.inject({ url: '/metrics', remoteAddress: '10.2.0.2', headers: bearer(ciToken) });
    assert.equal(user.statusCode, 403);
    const admin = await t.app.inject({ url: '/metrics', remoteAddress: '10.2.0.2', headers: basic('admin', t.adminToken) });
    assert.equal(admin.statusCode, 200);
    assert.match(String(admin.headers['content-type']), /^text\/plain/);
    assert.match(admin.body, /^shoal_http_request_duration_seconds_bucket\{/m);
    assert.match(admin.body, /shoal_http_auth_failures_total\{reason="unauthorized"\} [1-9]/);
    assert.match(admin.body, /shoal_http_auth_failures_total\{reason="rate_limited"\} [1-9]/);
  });

  it('unknown routes answer 404 in the one error shape', async () => {
    for (const url of ['/api/v1/nope', '/nope', '/api/v2/applications']) {
      const r = await t.app.inject({ url, headers: bearer(ciToken) });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json<{ error: { code: string } }>().error.code, 'NOT_FOUND');
    }
    const wrongMethod = await t.app.inject({ method: 'PUT', url: '/api/v1/applications', headers: bearer(ciToken) });
    assert.equal(wrongMethod.statusCode, 404);
    assert.equal(wrongMethod.json<{ error: { code: string } }>().error.code, 'NOT_FOUND');
  });

  it('never logs a token or an Authorization header', async () => {
    await t.app.inject({ url: '/api/v1/users/me', headers: bearer('leaky-secret-token-123') });
    await t.app.inject({ url: '/api/v1/users/me', headers: bearer(ciToken) });
    assert.ok(t.logs.length > 0, 'the API logged something');
    const all = t.logs.join('');
    for (const secret of [ciToken, t.adminToken, 'leaky-secret-token-123', Buffer.from(`ci:${ciToken}`).toString('base64')]) {
      assert.ok(!all.includes(secret), 'a token reached the log');
    }
    assert.ok(!/"authorization"\s*:\s*"(?!\[redacted\])/i.test(all), 'an Authorization header reached the log');
    assert.ok(!/Bearer [A-Za-z0-9._-]{8,}/.test(all), 'a Bearer credential reached the log');
  });

  it('redacts headers, tokens and metadata even when code logs them by mistake', () => {
    const before = t.logs.length;
    t.app.log.info(
      {
        req: { headers: { authorization: 'Bearer oops-1' } },
        token: 'oops-2',
        user: { token: 'oops-3' },
        metadata: { K: 'oops-4' },
        app: { metadata: { K: 'oops-5' } },
      },
      'mistake',
    );
    const line = t.logs.slice(before).join('');
    assert.match(line, /mistake/);
    for (const s of ['oops-1', 'oops-2', 'oops-3', 'oops-4', 'oops-5']) assert.ok(!line.includes(s), `${s} reached the log`);
  });
});

describe('API edges: malformed HTTP and shutdown keep the one error shape', () => {
  it('answers a malformed HTTP request with 400 JSON', async () => {
    const t = await startApiNode();
    try {
      const url = new URL(await t.listen());
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(url.port), '127.0.0.1', () => sock.write('GET /health HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n'));
        let data = '';
        sock.setTimeout(15_000, () => sock.destroy(new Error('timeout')));
        sock.on('data', (c: Buffer) => (data += c.toString()));
        sock.on('close', () => resolve(data));
        sock.on('error', reject);
      });
      assert.match(raw, /^HTTP\/1\.1 400 /);
      assert.match(raw, /content-type: application\/json/i);
      assert.deepEqual(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), {
        error: { code: 'INVALID', message: 'malformed HTTP request' },
      });
    } finally {
      await t.close();
    }
  });
});

describe('shutdown guard', () => {
  it('answers requests that arrive while the API closes with 503 UNAVAILABLE in the error shape', async () => {
    const app = Fastify({ return503OnClosing: false }); // as buildApi does
    installErrorHandling(app, 1024);
    installShutdownGuard(app);
    app.get('/x', async () => ({ ok: true }));
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (port: number) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path: '/x', agent, timeout: 15_000 }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
    let during: { status: number; body: string } | undefined;
    let port = 0;
    // a client on a kept-alive connection asks while the node is closing
    app.addHook('preClose', async () => {
      during = await get(port);
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    try {
      assert.equal((await get(port)).status, 200);
      await app.close();
    } finally {
      agent.destroy();
    }
    assert.ok(during, 'a request was made while closing');
    assert.equal(during.status, 503, during.body);
    assert.equal((JSON.parse(during.body) as { error: { code: string } }).error.code, 'UNAVAILABLE');
  });
});
