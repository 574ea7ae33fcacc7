import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError, type DriverLogger, type FetchPolicy } from '../../contract/index.js';
import { guardedLookup } from './fetcher.js';
import { ImageCache } from './image-cache.js';
import { UrlPolicy } from './url-policy.js';
import { writeBounded } from './testing/bounded-body.js';

const noop = (): void => undefined;
const log: DriverLogger = { debug: noop, info: noop, warn: noop, error: noop };
const SUM = `sha256:${createHash('sha256').update('whatever').digest('hex')}`;
const LIMIT = 1024 * 1024;
/** an "endless" body is bounded all the same: at most this many 64 KB chunks */
const MAX_CHUNKS = 2000;

/** A loopback server whose routes misbehave on purpose; it records every socket it accepted. */
async function startServer(host: string): Promise<{ server: http.Server; base: string; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const chunk = Buffer.alloc(64 * 1024, 7);
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    if (url === '/announced-too-big') {
      res.writeHead(200, { 'content-length': String(LIMIT + 1) });
      res.write(chunk);
      return; // never finishes: the client must refuse it from the header
    }
    if (url === '/endless') {
      res.writeHead(200); // chunked, no length
      writeBounded(res, chunk, MAX_CHUNKS);
      return;
    }
    if (url === '/slow') {
      res.writeHead(200, { 'content-length': String(LIMIT) });
      res.write(chunk); // then nothing: only a cancellation ends this
      return;
    }
    if (url.startsWith('/redirect?to=')) {
      res.writeHead(302, { location: decodeURIComponent(url.slice('/redirect?to='.length)) });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end('secret body of a 404 page');
  });
  server.on('connection', (s: Socket) => sockets.push(s));
  server.listen(0, host);
  await once(server, 'listening');
  return { server, base: `http://${host}:${(server.address() as AddressInfo).port}`, sockets };
}

function imageErr(pattern: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof DriverError, String(err));
    assert.equal(err.code, 'IMAGE');
    assert.match(err.message, pattern);
    return true;
  };
}

describe('fetcher (through ImageCache)', () => {
  let work: string;
  let allowed: Awaited<ReturnType<typeof startServer>>;
  let forbidden: Awaited<ReturnType<typeof startServer>>;
  const policy: FetchPolicy = { allowFiles: [], allowHosts: ['127.0.0.1'], maxImageBytes: LIMIT };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'shoal-fetcher-'));
    allowed = await startServer('127.0.0.1');
    forbidden = await startServer('127.0.0.2'); // loopback too, but not in allow_hosts
  });
  after(async () => {
    for (const s of [allowed, forbidden]) {
      s.server.closeAllConnections();
      s.server.close();
    }
    rmSync(work, { recursive: true, force: true });
  });

  const tmpFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('.tmp'));

  it('refuses a body whose Content-Length is over the limit before reading it', async () => {
    const dir = join(work, 'a');
    const cache = new ImageCache({ dir, log, policy });
    await assert.rejects(
      cache.fetch({ url: `${allowed.base}/announced-too-big`, sum: SUM }),
      imageErr(/is 1\d* ?.*more than the limit of 1 MB \(config fetch\.max_image_size\)/),
    );
    await cache.idle();
    assert.deepEqual(tmpFiles(dir), []);
  });

  it('stops an endless chunked body at the limit, closes the connection and removes the temp file', async () => {
    const dir = join(work, 'b');
    const cache = new ImageCache({ dir, log, policy });
    const before = allowed.sockets.length;
    await assert.rejects(cache.fetch({ url: `${allowed.base}/endless`, sum: SUM }), imageErr(/delivered more than the limit of 1 MB/));
    const sock = allowed.sockets[before]!;
    if (!sock.destroyed) await once(sock, 'close');
    await cache.idle();
    assert.deepEqual(tmpFiles(dir), []);
  });

  it('keeps one shared download while a waiter remains; destroys it when the last waiter aborts', async () => {
    const dir = join(work, 'c');
    const cache = new ImageCache({ dir, log, policy });
    const ref = { url: `${allowed.base}/slow`, sum: SUM };
    const before = allowed.sockets.length;
    const first = new AbortController();
    const second = new AbortController();
    const p1 = cache.fetch(ref, { signal: first.signal });
    const p2 = cache.fetch(ref, { signal: second.signal });
    const accepted = allowed.sockets.length > before ? undefined : await once(allowed.server, 'connection');
    const sock = (accepted?.[0] as Socket | undefined) ?? allowed.sockets[before]!;
    assert.equal(allowed.sockets.length, before + 1, 'one download for both');
    assert.equal(cache.waiters(ref.sum), 2);

    first.abort(new Error('application A was deallocated'));
    await assert.rejects(p1, imageErr(/cancelled: application A was deallocated/));
    assert.equal(cache.waiters(ref.sum), 1);
    assert.equal(sock.destroyed, false, 'the other waiter still gets its download');

    second.abort(new Error('application B was deallocated'));
    await assert.rejects(p2, imageErr(/cancelled/));
    if (!sock.destroyed) await once(sock, 'close'); // the server sees the connection end
    await cache.idle();
    assert.deepEqual(tmpFiles(dir), [], 'no temp file is left');
    assert.equal(cache.waiters(ref.sum), 0);
  });

  it('refuses a redirect from an allowed host to a forbidden one without connecting to it', async () => {
    const dir = join(work, 'd');
    const cache = new ImageCache({ dir, log, policy });
    const target = encodeURIComponent(`${forbidden.base}/x`);
    const before = forbidden.sockets.length;
    await assert.rejects(
      cache.fetch({ url: `${allowed.base}/redirect?to=${target}`, sum: SUM }),
      imageErr(/127\.0\.0\.2 is a loopback address.*fetch\.allow_hosts/),
    );
    await assert.rejects(
      cache.fetch({ url: `${allowed.base}/redirect?to=${encodeURIComponent('http://[::ffff:169.254.169.254]/')}`, sum: SUM }),
      imageErr(/link-local/),
    );
    await assert.rejects(
      cache.fetch({ url: `${allowed.base}/redirect?to=${encodeURIComponent('file:///etc/passwd')}`, sum: SUM }),
      imageErr(/redirect to a file: URL is refused/),
    );
    assert.equal(forbidden.sockets.length, before, 'the forbidden server was never contacted');
  });

  it('refuses a forbidden host at the start without connecting, and never shows a body', async () => {
    const cache = new ImageCache({ dir: join(work, 'e'), log, policy });
    const before = forbidden.sockets.length;
    await assert.rejects(cache.fetch({ url: `${forbidden.base}/x`, sum: SUM }), imageErr(/127\.0\.0\.2 is a loopback address/));
    assert.equal(forbidden.sockets.length, before);
    await assert.rejects(cache.fetch({ url: `${allowed.base}/missing`, sum: SUM }), (err: unknown) => {
      assert.match((err as Error).message, /HTTP 404/);
      assert.ok(!(err as Error).message.includes('secret body'));
      return true;
    });
  });

  it('checks what a name resolves to at connect time (no rebinding around the label check)', async () => {
    const shown = 'http://localhost/x';
    const lookup = guardedLookup(new UrlPolicy({ ...policy, allowHosts: [] }), 'options.kernel.url', shown);
    const refused = await new Promise<Error | null>((resolve) => lookup('localhost', { all: true }, (err) => resolve(err)));
    assert.ok(refused instanceof DriverError);
    assert.equal(refused.field, 'options.kernel.url');
    assert.match(refused.message, /localhost resolves to (127\.0\.0\.1|::1), which is a loopback address/);

    const open = guardedLookup(new UrlPolicy({ ...policy, allowHosts: ['localhost'] }), 'f', shown);
    const all = await new Promise<unknown>((resolve, reject) =>
      open('localhost', { all: true }, (err, addrs) => (err ? reject(err) : resolve(addrs))),
    );
    assert.ok(Array.isArray(all) && all.length > 0);
    const one = await new Promise<[unknown, unknown]>((resolve, reject) =>
      open('localhost', {}, (err, a, f) => (err ? reject(err) : resolve([a, f]))),
    );
    assert.equal(typeof one[0], 'string');
    assert.ok(one[1] === 4 || one[1] === 6);
  });
});
