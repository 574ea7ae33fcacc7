import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { connectEngine } from '../../src/drivers/docker/engine.js';
import { freePort } from '../helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { writeBounded } from '../../src/drivers/shared/testing/bounded-body.js';

/**
 * Issue 7 classes 1, 2 and 5 attacked on a real `shoal serve` process as an ordinary user: every
 * URL field of the docker and qemu definitions pointed at host files and at loopback, link-local
 * and private addresses (refused at POST /labels, nothing contacted), a host name that resolves to
 * loopback (refused when fetched, without a connection), endless and cancelled downloads.
 * The node allows exactly one extra address, 127.0.0.9, where this test serves bodies.
 */

interface Reply {
  status: number;
  body: { error?: { code: string; message: string; details?: { field?: string } }; [k: string]: unknown };
}

const sha256 = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
const SOME_SUM = `sha256:${'ab'.repeat(32)}`;
const ALLOWED_HOST = '127.0.0.9';
const LIMIT_MB = 8;

/** A loopback server that records every connection; `/endless` never ends, `/slow` sends one chunk and waits. */
async function bodyServer(host: string): Promise<{ server: http.Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const chunk = Buffer.alloc(64 * 1024, 1);
  const server = http.createServer((req, res) => {
    if (req.url === '/endless') {
      res.writeHead(200);
      writeBounded(res, chunk, (4 * LIMIT_MB * 1024 * 1024) / chunk.length); // 4× the node's limit at most
      return;
    }
    if (req.url === '/slow') {
      res.writeHead(200, { 'content-length': String(LIMIT_MB * 1024 * 1024 - 1) });
      res.write(chunk);
      return;
    }
    res.writeHead(200);
    res.end('a secret service answer');
  });
  server.on('connection', (s: Socket) => sockets.push(s));
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

describe('URL fields against a real node (file reads, SSRF, unbounded downloads)', { timeout: 240_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'shoal-sec-fetch-'));
  const dataDir = join(work, 'data');
  const importDir = join(dataDir, 'import');
  const imageTag = `shoal-sec-fetch-${process.pid}:1`;
  const docker = connectEngine('/var/run/docker.sock');
  let node: NodeProcess;
  let loopback: Awaited<ReturnType<typeof bodyServer>>;
  let allowedServer: Awaited<ReturnType<typeof bodyServer>>;
  let rootfs: { url: string; sum: string };
  const tokens: Record<string, string> = {};
  const alive = (): boolean => node.proc.exitCode === null && node.proc.signalCode === null;

  async function api(who: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${node.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Reply['body']) };
  }

  async function waitFor(uid: string, statuses: string[], timeoutMs = 60_000): Promise<{ status: string; description: string }> {
    const deadline = Date.now() + timeoutMs;
    let last: Reply | undefined;
    for (let i = 0; i < 5000 && Date.now() < deadline; i++) {
      last = await api('mallory', 'GET', `/applications/${uid}/state`);
      if (statuses.includes(String(last.body.status))) return last.body as unknown as { status: string; description: string };
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`application ${uid} did not reach ${statuses.join('|')}: ${JSON.stringify(last?.body)}`);
  }

  const dockerDef = (url: string, sum = SOME_SUM) => ({
    driver: 'docker',
    options: { image: imageTag, images: [{ url, sum }], command: ['/bin/busybox', 'sleep', '3600'] },
    requirements: { cpu: 1, ram: 1 },
  });
  const allowedKernel = (): { url: string; sum: string } => ({ url: pathToFileURL(join(importDir, 'vmlinuz')).toString(), sum: SOME_SUM });
  /** every URL field of both drivers, with the attacking URL in it */
  const fields = (url: string): Array<[string, { driver: string } & Record<string, unknown>]> => [
    ['definitions[0].options.images[0].url', dockerDef(url)],
    [
      'definitions[0].options.images[0].url',
      { driver: 'qemu', options: { images: [{ url, sum: SOME_SUM }] }, requirements: { cpu: 1, ram: 1 } },
    ],
    [
      'definitions[0].options.kernel.url',
      { driver: 'qemu', options: { kernel: { url, sum: SOME_SUM } }, requirements: { cpu: 1, ram: 1 } },
    ],
    [
      'definitions[0].options.initrd.url',
      { driver: 'qemu', options: { kernel: allowedKernel(), initrd: { url, sum: SOME_SUM } }, requirements: { cpu: 1, ram: 1 } },
    ],
  ];

  before(async () => {
    // a tiny root file system (busybox) as the one archive this test imports legitimately
    const root = join(work, 'rootfs');
    mkdirSync(join(root, 'bin'), { recursive: true });
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    mkdirSync(importDir, { recursive: true });
    execFileSync('tar', ['-C', root, '-cf', join(importDir, 'rootfs.tar'), '.']);
    rootfs = { url: pathToFileURL(join(importDir, 'rootfs.tar')).toString(), sum: sha256(join(importDir, 'rootfs.tar')) };
    // a symlink inside the import dir pointing out of it, at the admin token
    symlinkSync(join(dataDir, 'admin.token'), join(importDir, 'token-link'));
    symlinkSync('/dev/zero', join(importDir, 'zero-link'));

    loopback = await bodyServer('127.0.0.1');
    allowedServer = await bodyServer(ALLOWED_HOST);
    node = await startNodeProcess({
      dataDir,
      config: {
        capacity: { cpu: 8, ram: 8 },
        fetch: { allow_hosts: [ALLOWED_HOST], max_image_size: `${LIMIT_MB}MB` },
        drivers: {
          docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 8, ram: 8 },
          qemu: { shutdown_timeout_seconds: 5, capacity: { cpu: 2, ram: 2 } },
        },
      },
    });
    tokens.admin = node.token;
    const r = await api('admin', 'POST', '/users', { name: 'mallory', role: 'user' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    tokens.mallory = r.body.token as string;
    const drivers = await api('admin', 'GET', '/nodes/this');
    assert.match(JSON.stringify(drivers.body), /docker/);
  });

  after(async () => {
    await node?.cleanup();
    for (const s of [loopback, allowedServer]) {
      s?.server.closeAllConnections();
      s?.server.close();
    }
    await docker
      .getImage(imageTag)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getImage(`shoal-archive:${rootfs.sum.replace(':', '-')}`)
      .remove({ force: true })
      .catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  async function refusedAtPost(url: string, rule: RegExp): Promise<void> {
    for (const [field, def] of fields(url)) {
      const r = await api('mallory', 'POST', '/labels', { name: `evil-${Math.random().toString(36).slice(2, 8)}`, definitions: [def] });
      assert.ok(r.status >= 400 && r.status < 500, `${def.driver} ${field} with ${url}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error?.details?.field, field, JSON.stringify(r.body));
      assert.match(r.body.error?.message ?? '', rule, `${def.driver} ${field}`);
      assert.doesNotMatch(r.body.error?.message ?? '', /root:|[0-9a-f]{64}/, 'no file content or checksum in the answer');
    }
  }

  const OUTSIDE = /is outside the allowed import directories \(config fetch\.allow_files\)/;

  test('file:// outside the import dir is refused at POST /labels for every URL field', async () => {
    await refusedAtPost(pathToFileURL(join(dataDir, 'admin.token')).toString(), OUTSIDE);
    await refusedAtPost('file:///etc/shadow', OUTSIDE);
    await refusedAtPost('file:///dev/zero', OUTSIDE);
    await refusedAtPost(`file://${importDir}/../admin.token`, OUTSIDE);
    await refusedAtPost(`file://${importDir}/%2e%2e/admin.token`, OUTSIDE);
    assert.ok(alive());
  });

  test('a symlink in the import dir pointing out of it is refused', async () => {
    await refusedAtPost(
      pathToFileURL(join(importDir, 'token-link')).toString(),
      /resolves \(through a symbolic link\) outside the allowed import directories/,
    );
    await refusedAtPost(pathToFileURL(join(importDir, 'zero-link')).toString(), /outside the allowed import directories/);
    assert.ok(alive());
  });

  test('loopback, link-local and private http(s) addresses are refused at POST /labels without a connection', async () => {
    const before = loopback.sockets.length;
    await refusedAtPost(
      `http://127.0.0.1:${loopback.port}/`,
      /127\.0\.0\.1 is a loopback address, refused unless config fetch\.allow_hosts allows it/,
    );
    await refusedAtPost(`http://127.0.0.2:${loopback.port}/`, /loopback/);
    await refusedAtPost(`http://[::1]:${loopback.port}/`, /::1 is a loopback address/);
    await refusedAtPost(`http://[::ffff:127.0.0.1]:${loopback.port}/`, /loopback/);
    await refusedAtPost(`http://localhost:${loopback.port}/`, /loopback name/);
    await refusedAtPost('http://169.254.169.254/latest/meta-data/', /169\.254\.169\.254 is a link-local address/);
    await refusedAtPost('http://10.1.2.3/', /10\.1\.2\.3 is a private address/);
    await refusedAtPost('https://[fd00::1]/', /unique local/);
    await refusedAtPost('http://0.0.0.0/', /unspecified/);
    assert.equal(loopback.sockets.length, before, 'the loopback service was never contacted');
    assert.ok(alive());
  });

  test('a host name that resolves to loopback passes the label check but is refused when fetched, without a connection or its details', async () => {
    // a name of this host that resolves to loopback only (the host name, or Debian's ip6-localhost)
    let name: string | undefined;
    for (const candidate of [hostname(), 'ip6-localhost', 'ip6-loopback']) {
      const addrs = await lookup(candidate, { all: true }).catch(() => []);
      if (addrs.length > 0 && addrs.every((a) => a.address.startsWith('127.') || a.address === '::1')) {
        name = candidate;
        break;
      }
    }
    assert.ok(name, 'this host has a name resolving to loopback (its host name or ip6-localhost)');
    const before = loopback.sockets.length;
    const label = await api('mallory', 'POST', '/labels', {
      name: 'by-name',
      definitions: [dockerDef(`http://${name}:${loopback.port}/x`)],
    });
    assert.equal(label.status, 201, JSON.stringify(label.body));
    const app = await api('mallory', 'POST', '/applications', { label: 'by-name' });
    assert.equal(app.status, 201, JSON.stringify(app.body));
    const state = await waitFor(String(app.body.uid), ['ERROR']);
    assert.match(
      state.description,
      new RegExp(
        `${name.replace('.', '\\.')} resolves to (127\\.[0-9.]+|::1), which is a loopback address, refused unless config fetch\\.allow_hosts allows it`,
      ),
    );
    assert.doesNotMatch(state.description, /ECONNREFUSED|HTTP [0-9]|secret service/);
    assert.equal(loopback.sockets.length, before, 'no connection was made');
    assert.ok(alive());
  });

  test('an endless body from an allowed host stops at fetch.max_image_size; nothing is left', async () => {
    const label = await api('mallory', 'POST', '/labels', {
      name: 'endless',
      definitions: [dockerDef(`http://${ALLOWED_HOST}:${allowedServer.port}/endless`)],
    });
    assert.equal(label.status, 201, JSON.stringify(label.body));
    const app = await api('mallory', 'POST', '/applications', { label: 'endless' });
    const state = await waitFor(String(app.body.uid), ['ERROR']);
    assert.match(state.description, new RegExp(`delivered more than the limit of ${LIMIT_MB} MB \\(config fetch\\.max_image_size\\)`));
    const cacheDir = join(dataDir, 'drivers', 'docker', 'images');
    assert.deepEqual(
      readdirSync(cacheDir).filter((n) => n.startsWith('.tmp')),
      [],
    );
    assert.ok(alive());
  });

  test('deallocating an application while its image downloads closes the download and removes the temp file', async () => {
    const label = await api('mallory', 'POST', '/labels', {
      name: 'slow',
      definitions: [dockerDef(`http://${ALLOWED_HOST}:${allowedServer.port}/slow`)],
    });
    assert.equal(label.status, 201, JSON.stringify(label.body));
    const before = allowedServer.sockets.length;
    const connected = once(allowedServer.server, 'connection');
    const app = await api('mallory', 'POST', '/applications', { label: 'slow' });
    const uid = String(app.body.uid);
    const [sock] = (await connected) as [Socket];
    assert.equal(allowedServer.sockets.length, before + 1);
    // 'close' whether or not the hang-up surfaces as an error first (ECONNRESET on a loaded machine)
    const closed = sock.destroyed
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          sock.on('error', () => undefined);
          sock.once('close', () => resolve());
        });
    const d = await api('mallory', 'POST', `/applications/${uid}/deallocate`);
    assert.equal(d.status, 202, JSON.stringify(d.body));
    await closed; // the node hung up: the download is gone
    const state = await waitFor(uid, ['DEALLOCATED']);
    assert.match(state.description, /cancelled/);
    const cacheDir = join(dataDir, 'drivers', 'docker', 'images');
    assert.deepEqual(
      readdirSync(cacheDir).filter((n) => n.startsWith('.tmp')),
      [],
    );
    assert.ok(alive());
  });

  test('an archive placed in DATA_DIR/import still works end to end; a wrong checksum tells only the expected one', async () => {
    const wrong = await api('mallory', 'POST', '/labels', { name: 'wrong-sum', definitions: [dockerDef(rootfs.url, SOME_SUM)] });
    assert.equal(wrong.status, 201, JSON.stringify(wrong.body));
    const bad = await api('mallory', 'POST', '/applications', { label: 'wrong-sum' });
    const failed = await waitFor(String(bad.body.uid), ['ERROR']);
    assert.match(failed.description, new RegExp(`expected checksum ${SOME_SUM}`));
    assert.ok(!failed.description.includes(rootfs.sum.slice(7)), 'the real checksum is not told');

    const ok = await api('mallory', 'POST', '/labels', { name: 'imported', definitions: [dockerDef(rootfs.url, rootfs.sum)] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    const app = await api('mallory', 'POST', '/applications', { label: 'imported' });
    const uid = String(app.body.uid);
    await waitFor(uid, ['ALLOCATED'], 120_000);
    const d = await api('mallory', 'POST', `/applications/${uid}/deallocate`);
    assert.equal(d.status, 202);
    await waitFor(uid, ['DEALLOCATED']);
    assert.ok(alive());
  });
});
