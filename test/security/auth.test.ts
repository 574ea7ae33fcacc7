// Logins, /metrics and file modes on a real `shoal serve` process: failed logins limited per
// address prefix and per user while valid credentials keep working; /metrics refused without a
// token (loopback included), served with the metrics token and on its own listener; everything
// under DATA_DIR private to the node's user, also when an older version left it readable.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ShoalClient } from '../../src/client/index.js';
import { freePort } from '../helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

const DRIVERS = { capacity: { cpu: 4, ram: 4 }, drivers: { test: { cpu: 4, ram: 4 } } };

function get(
  url: string,
  opts: { authorization?: string; localAddress?: string; ca?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        headers: opts.authorization ? { authorization: opts.authorization } : {},
        agent: false,
        timeout: 20_000,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${url} timed out`)));
    req.end();
  });
}

const bearer = (t: string): string => `Bearer ${t}`;
const basic = (u: string, t: string): string => `Basic ${Buffer.from(`${u}:${t}`).toString('base64')}`;

function alive(node: NodeProcess): void {
  assert.equal(node.proc.exitCode, null, `the node exited:\n${node.output().slice(-3000)}`);
  assert.equal(node.proc.signalCode, null);
}

describe('logins, metrics and files on a real node', { timeout: 180_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('failed logins are limited per /24 and per user; valid credentials still work from a limited prefix', async () => {
    const node = await startNodeProcess({ config: { ...DRIVERS, login: { max_failures_per_prefix: 5, max_failures_per_user: 3 } } });
    cleanups.push(() => node.cleanup());
    const admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    const me = `${node.apiUrl}/api/v1/users/me`;
    // one client behind a NAT rotates its addresses inside 127.0.20.0/24
    for (let i = 1; i <= 5; i++) {
      // well-formed tokens with ids nobody has: each costs the node a full (dummy) argon2 check
      const r = await get(me, { authorization: bearer(`${String(i).padStart(16, '0')}.${'x'.repeat(43)}`), localAddress: `127.0.20.${i}` });
      assert.equal(r.status, 401, `failure ${i}`);
    }
    const refused = await get(me, { authorization: bearer('garbage'), localAddress: '127.0.20.99' });
    assert.equal(refused.status, 429, refused.body);
    assert.match(refused.body, /correct credentials are still accepted/);
    // a colleague behind the same NAT, logging in for the first time, is let in
    const colleague = (await admin.createUser({ name: 'colleague' })).token;
    const ok = await get(me, { authorization: bearer(colleague), localAddress: '127.0.20.50' });
    assert.equal(ok.status, 200, ok.body);
    assert.equal((JSON.parse(ok.body) as { name: string }).name, 'colleague');
    // another /24 is unaffected
    assert.equal((await get(me, { authorization: bearer('garbage'), localAddress: '127.0.21.1' })).status, 401);

    // per user: 3 wrong tokens for "target" from three /24s, the 4th from a fourth /24 → 429
    const target = (await admin.createUser({ name: 'target' })).token;
    const wrong = `${target.split('.')[0]}.${'B'.repeat(43)}`;
    for (let i = 0; i < 3; i++) {
      assert.equal((await get(me, { authorization: basic('target', wrong), localAddress: `127.0.${30 + i}.1` })).status, 401);
    }
    assert.equal((await get(me, { authorization: basic('target', wrong), localAddress: '127.0.40.1' })).status, 429);
    const right = await get(me, { authorization: basic('target', target), localAddress: '127.0.41.1' });
    assert.equal(right.status, 200, 'the real owner of the name still logs in');
    alive(node);
  });

  it('/metrics: refused without a token (loopback too), open to admins and the metrics token, and on its own listener', async () => {
    const metricsPort = await freePort();
    const metricsToken = 'metrics-token-0123456789abcdef';
    const node = await startNodeProcess({
      config: { ...DRIVERS, metrics: { token: metricsToken, listen: `127.0.0.1:${metricsPort}` } },
    });
    cleanups.push(() => node.cleanup());
    const admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    const user = (await admin.createUser({ name: 'curious' })).token;
    const url = `${node.apiUrl}/metrics`;
    assert.equal((await get(url)).status, 401, 'loopback without a token');
    assert.equal((await get(url, { localAddress: '127.0.50.7' })).status, 401, 'a test-driver-like loopback address');
    assert.equal((await get(url, { authorization: bearer(user) })).status, 403);
    assert.equal((await get(url, { authorization: bearer(`${metricsToken}x`) })).status, 401);
    const withToken = await get(url, { authorization: bearer(metricsToken) });
    assert.equal(withToken.status, 200);
    assert.match(withToken.body, /^shoal_http_request_duration_seconds_bucket\{/m);
    const asAdmin = await get(url, { authorization: bearer(node.token) });
    assert.equal(asAdmin.status, 200);
    const own = await get(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(own.status, 200);
    assert.match(own.body, /process_open_fds/);
    assert.equal((await get(`http://127.0.0.1:${metricsPort}/api/v1/users`)).status, 404, 'nothing else on that listener');
    alive(node);
  });

  it('everything under DATA_DIR is private to the node user (0700 dirs, 0600 files), also what an older version left readable', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-modes-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // an older node's leftovers: readable database, open directories
    await mkdir(join(dataDir, 'tls'), { recursive: true });
    await chmod(dataDir, 0o755);
    await chmod(join(dataDir, 'tls'), 0o755);
    await writeFile(join(dataDir, 'tls', 'stale.pem'), 'old\n', { mode: 0o644 });
    await writeFile(join(dataDir, 'shoal.db.bak'), 'old', { mode: 0o644 });
    await mkdir(join(dataDir, 'drivers', 'test'), { recursive: true, mode: 0o755 });
    await chmod(join(dataDir, 'drivers'), 0o755);
    await chmod(join(dataDir, 'drivers', 'test'), 0o755);
    const node = await startNodeProcess({ dataDir, tls: true, config: DRIVERS });
    cleanups.push(() => node.cleanup());
    const client = new ShoalClient({ url: node.apiUrl, token: node.token, ca: node.ca });
    await client.createLabel({ name: 'files', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    await client.createApplication({ label: 'files' });

    const seen: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const name of await readdir(dir)) {
        const p = join(dir, name);
        const st = await stat(p);
        seen.push(p.slice(dataDir.length + 1));
        if (st.isDirectory()) {
          assert.equal(st.mode & 0o777, 0o700, `${p} is ${(st.mode & 0o777).toString(8)}`);
          await walk(p);
        } else {
          assert.equal(st.mode & 0o077, 0, `${p} is ${(st.mode & 0o777).toString(8)}`);
        }
      }
    };
    assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
    await walk(dataDir);
    for (const f of [
      'shoal.db',
      'shoal.db-wal',
      'shoal.db-shm',
      'shoal.pid',
      'admin.token',
      'tls/ca.key',
      'tls/node.key',
      'tls/ca.crt',
      'tls/stale.pem',
      'shoal.db.bak',
      'drivers/test',
    ]) {
      assert.ok(seen.includes(f), `${f} was checked (seen: ${seen.join(', ')})`);
    }
    alive(node);
  });
});
