import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { DriverError, type DriverLogger, type FetchPolicy } from '../../contract/index.js';
import { ImageCache, parseImageRef, redactUrl } from './image-cache.js';

interface LogLine {
  level: string;
  obj: object;
  msg: string | undefined;
}

function memoryLog(): DriverLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Buffer): string => `sha512:${createHash('sha512').update(b).digest('hex')}`;

describe('parseImageRef', () => {
  const good = `sha256:${'a'.repeat(64)}`;

  it('accepts file and http(s) urls with sha256/sha512 sums', () => {
    assert.deepEqual(parseImageRef({ url: 'file:///x/y.tar', sum: good.toUpperCase().replace('SHA256', 'sha256') }, 'f'), {
      url: 'file:///x/y.tar',
      sum: good,
    });
    assert.equal(parseImageRef({ url: 'https://h/x', sum: `sha512:${'b'.repeat(128)}` }, 'f').sum, `sha512:${'b'.repeat(128)}`);
    assert.equal(parseImageRef({ url: 'http://h/x', sum: good }, 'f').url, 'http://h/x');
  });

  const bad: Array<[unknown, string]> = [
    ['x', 'options.images[0]'],
    [{ sum: good }, 'options.images[0].url'],
    [{ url: 'ftp://h/x', sum: good }, 'options.images[0].url'],
    [{ url: 'not a url', sum: good }, 'options.images[0].url'],
    [{ url: 'file:///dir/', sum: good }, 'options.images[0].url'],
    [{ url: 'file:///x' }, 'options.images[0].sum'],
    [{ url: 'file:///x', sum: 'md5:abc' }, 'options.images[0].sum'],
    [{ url: 'file:///x', sum: `sha256:${'a'.repeat(63)}` }, 'options.images[0].sum'],
    [{ url: 'file:///x', sum: `sha256:${'g'.repeat(64)}` }, 'options.images[0].sum'],
    [{ url: 'file:///x', sum: good, extra: 1 }, 'options.images[0].extra'],
  ];
  for (const [raw, field] of bad) {
    it(`rejects ${JSON.stringify(raw)} naming ${field}`, () => {
      assert.throws(
        () => parseImageRef(raw, 'options.images[0]'),
        (err: unknown) =>
          err instanceof DriverError && err.code === 'INVALID_DEFINITION' && err.field === field && err.message.startsWith(field),
      );
    });
  }

  it('redacts credentials and query from logged urls', () => {
    assert.equal(redactUrl('https://user:secret@h/x.tar?token=abc#f'), 'https://h/x.tar');
  });
});

describe('ImageCache', () => {
  let work: string;
  let server: http.Server;
  let base: string;
  const requests = new Map<string, number>();
  const payload = randomBytes(300_000);
  const files = new Map<string, Buffer>();

  // the test's loopback server and its temp dir are allowed explicitly (both are refused by default)
  let policy: FetchPolicy;

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'shoal-imgcache-'));
    policy = { allowFiles: [work], allowHosts: ['127.0.0.1'], maxImageBytes: 10 * 2 ** 20 };
    files.set('/payload.bin', payload);
    server = http.createServer((req, res) => {
      const path = (req.url ?? '').split('?')[0]!;
      requests.set(path, (requests.get(path) ?? 0) + 1);
      if (path === '/redirect') {
        res.writeHead(302, { location: '/payload.bin' });
        res.end();
        return;
      }
      const body = files.get(path);
      if (!body) {
        res.writeHead(404);
        res.end();
        return;
      }
      // Send slowly in two halves so concurrent fetches really overlap.
      res.writeHead(200, { 'content-length': body.length });
      res.write(body.subarray(0, body.length / 2));
      setTimeout(() => res.end(body.subarray(body.length / 2)), 150);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(work, { recursive: true, force: true });
  });

  it('downloads over http once: concurrent fetches share one request, later fetches hit the cache', async () => {
    const dir = join(work, 'c1');
    const log = memoryLog();
    const cache = new ImageCache({ dir, log, policy });
    const ref = { url: `${base}/payload.bin?token=s3cret`, sum: sha256(payload) };
    const paths = await Promise.all(Array.from({ length: 5 }, () => cache.fetch(ref)));
    assert.equal(requests.get('/payload.bin'), 1);
    assert.equal(new Set(paths).size, 1);
    assert.ok(readFileSync(paths[0]!).equals(payload));
    // second fetch (even through another url) = no download
    assert.equal(await cache.fetch({ url: `${base}/other`, sum: ref.sum }), paths[0]);
    assert.equal(requests.get('/payload.bin'), 1);
    // a fresh cache object on the same dir (node restart) also reuses the file
    assert.equal(await new ImageCache({ dir, log, policy }).fetch(ref), paths[0]);
    assert.equal(requests.get('/payload.bin'), 1);
    assert.ok(!JSON.stringify(log.lines).includes('s3cret'), 'the url query must not be logged');
    assert.ok(log.lines.some((l) => l.msg === 'image downloaded and verified' && (l.obj as { bytes?: number }).bytes === payload.length));
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('.tmp')),
      [],
    );
    // cached files and their directory are private to the node's user
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(paths[0]!).mode & 0o777, 0o600);
  });

  it('follows redirects and verifies sha512', async () => {
    const cache = new ImageCache({ dir: join(work, 'c2'), log: memoryLog(), policy });
    const p = await cache.fetch({ url: `${base}/redirect`, sum: sha512(payload) });
    assert.ok(readFileSync(p).equals(payload));
  });

  it('rejects a checksum mismatch naming only the expected sum (never what the file was) and deletes the file', async () => {
    const dir = join(work, 'c3');
    const cache = new ImageCache({ dir, log: memoryLog(), policy });
    const wrong = sha256(Buffer.from('something else'));
    const actualHex = sha256(payload).slice('sha256:'.length);
    await assert.rejects(cache.fetch({ url: `${base}/payload.bin`, sum: wrong }, { field: 'options.images[0]' }), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'IMAGE');
      assert.match(err.message, new RegExp(wrong));
      assert.match(err.message, /^options\.images\[0\]: /);
      assert.ok(!err.message.includes(actualHex), `the real checksum must not be told: ${err.message}`);
      return true;
    });
    assert.deepEqual(readdirSync(dir), [], 'nothing is left in the cache');
    // the same happens for file:// urls, with sha512 too
    const src = join(work, 'local.bin');
    writeFileSync(src, payload);
    await assert.rejects(cache.fetch({ url: pathToFileURL(src).toString(), sum: wrong }), (err: unknown) => {
      assert.match((err as Error).message, /expected checksum sha256:/);
      assert.ok(!(err as Error).message.includes(actualHex));
      return true;
    });
    const wrong512 = sha512(Buffer.from('x'));
    await assert.rejects(cache.fetch({ url: pathToFileURL(src).toString(), sum: wrong512 }), (err: unknown) => {
      assert.ok(!(err as Error).message.includes(sha512(payload).slice(7)));
      return true;
    });
    assert.deepEqual(readdirSync(dir), []);
  });

  it('reports http errors and missing files as IMAGE errors', async () => {
    const cache = new ImageCache({ dir: join(work, 'c4'), log: memoryLog(), policy });
    await assert.rejects(
      cache.fetch({ url: `${base}/missing`, sum: sha256(payload) }),
      (e: unknown) => e instanceof DriverError && e.code === 'IMAGE' && /HTTP 404/.test(e.message),
    );
    await assert.rejects(
      cache.fetch({ url: pathToFileURL(join(work, 'nope.tar')).toString(), sum: sha256(payload) }),
      (e: unknown) => e instanceof DriverError && e.code === 'IMAGE' && /does not exist/.test(e.message),
    );
    assert.deepEqual(readdirSync(join(work, 'c4')), []);
  });

  it('copies file:// images into the cache and decompresses gzip, xz and zstd', async () => {
    const cache = new ImageCache({ dir: join(work, 'c5'), log: memoryLog(), policy });
    const plain = join(work, 'plain.tar');
    writeFileSync(plain, payload);
    const gz = join(work, 'img.tar.gz');
    writeFileSync(gz, gzipSync(payload));
    writeFileSync(join(work, 'img.tar.xz'), execFileSync('xz', ['-z', '-c', plain]));
    writeFileSync(join(work, 'img.tar.zst'), execFileSync('zstd', ['-q', '-c', plain]));
    for (const name of ['plain.tar', 'img.tar.gz', 'img.tar.xz', 'img.tar.zst']) {
      const path = join(work, name);
      const ref = { url: pathToFileURL(path).toString(), sum: sha256(readFileSync(path)) };
      const original = await cache.fetch(ref);
      assert.ok(readFileSync(original).equals(readFileSync(path)), `${name}: original kept as is`);
      const [a, b] = await Promise.all([cache.fetch(ref, { decompress: true }), cache.fetch(ref, { decompress: true })]);
      assert.equal(a, b);
      assert.ok(readFileSync(a).equals(payload), `${name}: decompressed content`);
      if (name === 'plain.tar') assert.equal(a, original);
      else assert.notEqual(a, original);
    }
  });

  it('reports a corrupt compressed file as an IMAGE error and leaves no temp file', async () => {
    const dir = join(work, 'c6');
    const cache = new ImageCache({ dir, log: memoryLog(), policy });
    const bad = Buffer.concat([Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), randomBytes(100)]);
    const path = join(work, 'bad.xz');
    writeFileSync(path, bad);
    await assert.rejects(
      cache.fetch({ url: pathToFileURL(path).toString(), sum: sha256(bad) }, { decompress: true }),
      (e: unknown) => e instanceof DriverError && e.code === 'IMAGE' && /xz failed/.test(e.message),
    );
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('.tmp') || n.endsWith('.unpacked')),
      [],
    );
  });
});
