// Bounded connections, attacked on a real `shoal serve` process: 20,000 idle TCP connections to
// the API and to the Meta API (from other processes, so this one keeps its file descriptors),
// then a normal request answers within 1 s; silent and slow-header sockets are dropped; the caps
// per client address; event streams per user; the Meta API rate per resource.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ShoalClient } from '../../src/client/index.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { metaGet, waitForState } from '../helpers/wait.js';

const HELPER = join(new URL('.', import.meta.url).pathname, '..', 'helpers', 'idle-connections.js');
const DRIVERS = { capacity: { cpu: 8, ram: 8 }, drivers: { test: { cpu: 8, ram: 8 } } };

interface FloodReport {
  attempted: number;
  connected: number;
  closedByPeer: number;
  failed: number;
  stillOpen: number;
}

/** Starts a child that opens `count` idle connections; resolves with its report (bounded by maxMs). */
function flood(port: number, count: number, addresses: string[], maxMs: number): { child: ChildProcess; report: Promise<FloodReport> } {
  const child = spawn(process.execPath, [HELPER, '127.0.0.1', String(port), String(count), String(maxMs), addresses.join(',')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const report = new Promise<FloodReport>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as FloodReport);
    });
    child.once('exit', (code) => reject(new Error(`flood helper exited with ${code} before reporting`)));
  });
  return { child, report };
}

function endFlood(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.stdin!.end();
  });
}

/** GET that must complete within `ms` (or it fails): the bound the issue asks for. */
function getWithin(
  url: string,
  ms: number,
  opts: { token?: string; localAddress?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = opts.token ? { authorization: `Bearer ${opts.token}` } : {};
    const req = request(url, { headers, agent: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    const timer = setTimeout(() => req.destroy(new Error(`${url} did not answer within ${ms} ms`)), ms);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end();
  });
}

/** Resolves when the server closes `socket` (or rejects after `ms`: the test's own bound). */
function closedByServer(socket: Socket, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`the server kept the socket open for ${ms} ms`)), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function openIdle(port: number, localAddress: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('close', () => reject(new Error('closed before connecting')));
  });
}

function alive(node: NodeProcess): void {
  assert.equal(node.proc.exitCode, null, `the node exited:\n${node.output().slice(-3000)}`);
  assert.equal(node.proc.signalCode, null);
}

const range = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}.${i + 1}`);

describe('bounded connections on a real node', { timeout: 300_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('20,000 idle connections to the API and to the Meta API: the node keeps its descriptors and answers within 1 s', async () => {
    const node = await startNodeProcess({ config: DRIVERS });
    cleanups.push(() => node.cleanup());
    const client = new ShoalClient({ url: node.apiUrl, token: node.token });
    await client.createLabel({ name: 'target', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    const app = await client.createApplication({ label: 'target', metadata: { ROLE: 'victim' } });
    await waitForState(client, app.uid, ['ALLOCATED']);
    const ip = (await client.getResource(app.uid)).ipaddr;

    // two processes × 10,000 (this machine's open-files limit is 20,000 per process), from 200
    // loopback addresses: under the per-address cap, so the listener cap and eviction are what act
    const a = flood(node.apiPort, 10_000, range('127.0.9', 100), 60_000);
    const b = flood(node.apiPort, 10_000, range('127.0.10', 100), 60_000);
    cleanups.push(
      () => endFlood(a.child),
      () => endFlood(b.child),
    );
    const [ra, rb] = await Promise.all([a.report, b.report]);
    assert.equal(ra.attempted + rb.attempted, 20_000, JSON.stringify([ra, rb]));
    // the flood really reached the node (handshakes done), and the node closed what it would not keep
    assert.ok(ra.connected + rb.connected > 4096, JSON.stringify([ra, rb]));
    assert.ok(ra.closedByPeer + rb.closedByPeer > 0, JSON.stringify([ra, rb]));
    const fds = readdirSync(`/proc/${node.proc.pid}/fd`).length;
    assert.ok(fds < 4096 + 512, `the node holds ${fds} descriptors after the API flood`);
    const me = await getWithin(`${node.apiUrl}/api/v1/users/me`, 1000, { token: node.token });
    assert.equal(me.status, 200, me.body);

    const c = flood(node.metaPort, 10_000, range('127.0.11', 100), 60_000);
    const d = flood(node.metaPort, 10_000, range('127.0.12', 100), 60_000);
    cleanups.push(
      () => endFlood(c.child),
      () => endFlood(d.child),
    );
    const [rc, rd] = await Promise.all([c.report, d.report]);
    assert.equal(rc.attempted + rd.attempted, 20_000, JSON.stringify([rc, rd]));
    assert.ok(rc.connected + rd.connected > 4096, JSON.stringify([rc, rd]));
    const fds2 = readdirSync(`/proc/${node.proc.pid}/fd`).length;
    assert.ok(fds2 < 2 * 4096 + 512, `the node holds ${fds2} descriptors after both floods`);
    const meta = await getWithin(`http://127.0.0.1:${node.metaPort}/meta/v1/data`, 1000, { localAddress: ip });
    assert.equal(meta.status, 200, meta.body);
    assert.deepEqual(JSON.parse(meta.body), { ROLE: 'victim' });
    const again = await getWithin(`${node.apiUrl}/health`, 1000);
    assert.equal(again.status, 200);
    await Promise.all([a, b, c, d].map((f) => endFlood(f.child)));
    alive(node);
  });

  it('silent and slow-header sockets are dropped; one address gets at most its cap, others still get in', async () => {
    const node = await startNodeProcess({
      config: { ...DRIVERS, connections: { header_timeout: '3s', idle_timeout: '5s', per_address: 4 } },
    });
    cleanups.push(() => node.cleanup());
    // silent: closed by the server after the header timeout
    const silent = await openIdle(node.apiPort, '127.0.13.1');
    await closedByServer(silent, 15_000);
    // slowloris: a header line every 200 ms never completes the request in time
    const slow = await openIdle(node.apiPort, '127.0.13.2');
    slow.write('GET /health HTTP/1.1\r\nHost: x\r\n');
    const drip = setInterval(() => {
      if (!slow.destroyed) slow.write('X-Slow: 1\r\n');
    }, 200);
    try {
      await closedByServer(slow, 15_000);
    } finally {
      clearInterval(drip);
    }
    // per-address cap: 4 held, the 5th closed at once, another address still served
    const held = await Promise.all(range('127.0.13', 4).map(() => openIdle(node.apiPort, '127.0.13.9')));
    const fifth = connect({ host: '127.0.0.1', port: node.apiPort, localAddress: '127.0.13.9' });
    fifth.on('error', () => undefined);
    await closedByServer(fifth, 2000); // well before the 3 s header timeout of the four others
    assert.equal(held.filter((s) => !s.destroyed).length, 4, 'the first four are still open');
    const ok = await getWithin(`${node.apiUrl}/health`, 1000, { localAddress: '127.0.13.10' });
    assert.equal(ok.status, 200);
    for (const s of held) s.destroy();
    alive(node);
  });

  it('event streams per user are capped with a clear 429; the Meta API is rate-limited per resource', async () => {
    const node = await startNodeProcess({
      config: { ...DRIVERS, events: { max_streams_per_user: 2 }, meta_rate: { per_second: 0.5, burst: 3 } },
    });
    cleanups.push(() => node.cleanup());
    const admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    const alice = (await admin.createUser({ name: 'alice' })).token;
    const bob = (await admin.createUser({ name: 'bob' })).token;

    const streams: Array<ReturnType<typeof request>> = [];
    const openStream = (token: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = request(
          `${node.apiUrl}/api/v1/events`,
          { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, agent: false },
          (res) => {
            if (res.statusCode === 200) {
              streams.push(req);
              res.once('data', () => resolve({ status: 200, body: '' }));
              res.on('error', () => undefined);
              return;
            }
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    assert.equal((await openStream(alice)).status, 200);
    assert.equal((await openStream(alice)).status, 200);
    const third = await openStream(alice);
    assert.equal(third.status, 429, third.body);
    const err = (JSON.parse(third.body) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'TOO_MANY_REQUESTS');
    assert.match(err.message, /2 open event streams.*events\.max_streams_per_user/);
    assert.equal((await openStream(bob)).status, 200, 'another user is not affected');
    // closing one of alice's streams frees its place (the server sees the close asynchronously)
    streams[0]!.destroy();
    let reopened = 0;
    for (let i = 0; i < 100 && reopened !== 200; i++) {
      reopened = (await openStream(alice)).status;
      if (reopened !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(reopened, 200);

    // Meta API: 3 requests (the burst), then 429 with Retry-After for this resource only
    await admin.createLabel({ name: 'rate', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    const [one, two] = await Promise.all([admin.createApplication({ label: 'rate' }), admin.createApplication({ label: 'rate' })]);
    await waitForState(admin, one.uid, ['ALLOCATED']);
    await waitForState(admin, two.uid, ['ALLOCATED']);
    const ipOne = (await admin.getResource(one.uid)).ipaddr;
    const ipTwo = (await admin.getResource(two.uid)).ipaddr;
    for (let i = 0; i < 3; i++) assert.equal((await metaGet(node.metaHost, node.metaPort, ipOne)).status, 200, `request ${i + 1}`);
    const limited = await metaGet(node.metaHost, node.metaPort, ipOne);
    assert.equal(limited.status, 429, limited.body);
    assert.match(limited.body, /too many Meta API requests from this resource: the limit is 0\.5 per second \(bursts of 3\)/);
    assert.equal((await metaGet(node.metaHost, node.metaPort, ipTwo)).status, 200, 'another resource has its own bucket');
    const stranger = await metaGet(node.metaHost, node.metaPort, '127.0.14.1');
    assert.equal(stranger.status, 404, 'an unknown caller still learns nothing');
    for (const s of streams) s.destroy();
    alive(node);
  });
});
