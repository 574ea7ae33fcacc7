/**
 * A per-node cache of image files (`{url, sum}` pairs from label definitions), shared by the
 * docker and qemu drivers.
 *
 * API (kept stable; other drivers import it):
 *
 *   parseImageRef(raw, field) -> ImageRef
 *     Checks one `{url, sum}` value of a definition. `url` is `file://…`, `http://…` or `https://…`;
 *     `sum` is `sha256:<64 hex>` or `sha512:<128 hex>`. Throws DriverError INVALID_DEFINITION whose
 *     `field` names the bad part, e.g. `options.images[0].sum`.
 *
 *   new ImageCache({ dir, log })
 *     `dir` is created when missing. Files are kept as `<dir>/<algo>-<hex>` (the verified original)
 *     and `<dir>/<algo>-<hex>.unpacked` (its decompressed copy).
 *
 *   cache.fetch(ref, { decompress? }) -> Promise<string>  (absolute path of a local file)
 *     - downloads once per node: http(s) is streamed, file:// is copied into the cache;
 *     - the checksum is verified BEFORE the file is used; a mismatch rejects with DriverError
 *       'IMAGE' naming the expected and actual checksum, and the bad file is deleted;
 *     - cached by checksum: a second fetch of the same sum does not download again (even from
 *       another url);
 *     - concurrent fetches of the same ref share one download (in-process promise map; files are
 *       written to a temp name and renamed into place, so other processes never see partial files);
 *     - progress (bytes) is logged at debug/info; urls are logged without credentials or query;
 *     - `decompress: true` returns a decompressed copy when the file is gzip, xz or zstd (detected
 *       by magic bytes: node zlib for gzip, the `xz` / `zstd` CLIs for the others), else the
 *       original path. Tar archives are NOT unpacked: callers get a plain .tar file.
 *     Returned files must be treated as read-only (they are shared).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { DriverError, invalidDefinition, type DriverLogger } from '../../contract/index.js';

export interface ImageRef {
  /** file://, http:// or https:// */
  url: string;
  /** "sha256:<64 hex>" or "sha512:<128 hex>" (lower-case after parsing) */
  sum: string;
}

export interface ImageCacheOptions {
  dir: string;
  log: DriverLogger;
}

export interface FetchOptions {
  /** return a decompressed copy when the file is gzip/xz/zstd */
  decompress?: boolean;
}

const SUM_ALGOS = { sha256: 64, sha512: 128 } as const;
type SumAlgo = keyof typeof SUM_ALGOS;
const MAX_REDIRECTS = 5;
const HTTP_IDLE_TIMEOUT_MS = 60_000;
const PROGRESS_EVERY_BYTES = 64 * 1024 * 1024;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Check one `{url, sum}` value; `field` is its path for messages (e.g. `options.images[0]`). */
export function parseImageRef(raw: unknown, field: string): ImageRef {
  if (!isRecord(raw)) throw invalidDefinition(field, 'must be an object like {"url":"file:///…/image.tar","sum":"sha256:…"}');
  for (const k of Object.keys(raw)) {
    if (k !== 'url' && k !== 'sum') throw invalidDefinition(`${field}.${k}`, 'unknown field (known: url, sum)');
  }
  const { url, sum } = raw;
  if (typeof url !== 'string' || url === '') throw invalidDefinition(`${field}.url`, 'is required (a file://, http:// or https:// URL)');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidDefinition(`${field}.url`, 'is not a valid URL');
  }
  if (!['file:', 'http:', 'https:'].includes(parsed.protocol)) {
    throw invalidDefinition(`${field}.url`, `scheme "${parsed.protocol}" is not supported (use file://, http:// or https://)`);
  }
  if (parsed.protocol === 'file:' && (parsed.pathname === '' || parsed.pathname.endsWith('/'))) {
    throw invalidDefinition(`${field}.url`, 'must name a file');
  }
  if (typeof sum !== 'string' || sum === '') throw invalidDefinition(`${field}.sum`, 'is required, e.g. "sha256:<64 hex digits>"');
  const m = /^(sha256|sha512):([0-9a-fA-F]+)$/.exec(sum);
  if (!m) throw invalidDefinition(`${field}.sum`, 'must be "sha256:<64 hex digits>" or "sha512:<128 hex digits>"');
  const algo = m[1] as SumAlgo;
  if (m[2]!.length !== SUM_ALGOS[algo]) {
    throw invalidDefinition(`${field}.sum`, `${algo} needs ${SUM_ALGOS[algo]} hex digits, got ${m[2]!.length}`);
  }
  return { url, sum: `${algo}:${m[2]!.toLowerCase()}` };
}

/** The url without credentials, query or fragment: safe to log. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}

export type Compression = 'gzip' | 'xz' | 'zstd' | 'none';

/** Detect gzip / xz / zstd by the file's first bytes. */
export async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(6);
    const { bytesRead } = await fh.read(buf, 0, 6, 0);
    const b = buf.subarray(0, bytesRead);
    if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
    if (b.length >= 6 && b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
    if (b.length >= 4 && b.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function imageError(message: string, cause?: unknown): DriverError {
  return new DriverError('IMAGE', message, cause === undefined ? undefined : { cause });
}

function openHttp(url: string, redirects: number): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const get = url.startsWith('https:') ? https.get : http.get;
    const req = get(url, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects >= MAX_REDIRECTS) {
          reject(imageError(`${redactUrl(url)}: too many redirects`));
          return;
        }
        const next = new URL(res.headers.location, url).toString();
        if (!next.startsWith('http:') && !next.startsWith('https:')) {
          reject(imageError(`${redactUrl(url)}: redirect to a non-http URL`));
          return;
        }
        openHttp(next, redirects + 1).then(resolve, reject);
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(imageError(`${redactUrl(url)}: HTTP ${status}`));
        return;
      }
      resolve(res);
    });
    req.setTimeout(HTTP_IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${HTTP_IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err) => reject(imageError(`${redactUrl(url)}: ${err.message}`, err)));
  });
}

export class ImageCache {
  readonly dir: string;
  readonly #log: DriverLogger;
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(opts: ImageCacheOptions) {
    this.dir = opts.dir;
    this.#log = opts.log;
  }

  /** Path of the verified original for a sum (whether or not it is cached yet). */
  pathFor(sum: string): string {
    return join(this.dir, sum.toLowerCase().replace(':', '-'));
  }

  fetch(ref: ImageRef, opts: FetchOptions = {}): Promise<string> {
    let checked: ImageRef;
    try {
      checked = parseImageRef(ref, 'image');
    } catch (err) {
      return Promise.reject(err);
    }
    if (!opts.decompress) return this.#shared(checked.sum, () => this.#download(checked));
    return this.#shared(`${checked.sum}+unpacked`, () => this.#fetchUnpacked(checked));
  }

  /** One running promise per key: concurrent callers share it. */
  #shared(key: string, run: () => Promise<string>): Promise<string> {
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = run().finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #fetchUnpacked(ref: ImageRef): Promise<string> {
    const original = await this.#shared(ref.sum, () => this.#download(ref));
    const kind = await detectCompression(original);
    if (kind === 'none') return original;
    const target = `${original}.unpacked`;
    if (await exists(target)) return target;
    const tmp = this.#tmpName();
    const started = Date.now();
    try {
      if (kind === 'gzip') {
        await pipeline(createReadStream(original), createGunzip(), createWriteStream(tmp, { mode: 0o644 }));
      } else {
        await this.#runDecompressor(kind === 'xz' ? 'xz' : 'zstd', original, tmp);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof DriverError) throw err;
      throw imageError(`image ${ref.sum}: cannot decompress (${kind}): ${(err as Error).message}`, err);
    }
    const size = (await stat(target)).size;
    this.#log.info({ sum: ref.sum, compression: kind, bytes: size, ms: Date.now() - started }, 'image decompressed');
    return target;
  }

  #runDecompressor(cmd: 'xz' | 'zstd', input: string, output: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const out = createWriteStream(output, { mode: 0o644 });
      out.on('open', () => {
        const args = cmd === 'xz' ? ['-d', '-c', '-T0', input] : ['-d', '-c', '-q', input];
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          if (stderr.length < 2000) stderr += d.toString();
        });
        const piped = pipeline(child.stdout, out);
        child.on('error', (err) => {
          out.destroy();
          reject(imageError(`cannot run ${cmd} (install the ${cmd === 'xz' ? 'xz-utils' : 'zstd'} package): ${err.message}`, err));
        });
        child.on('close', (code) => {
          piped.then(
            () => (code === 0 ? resolve() : reject(imageError(`${cmd} failed (exit ${code}): ${stderr.trim()}`))),
            (err: Error) => reject(imageError(`${cmd} output: ${err.message}`, err)),
          );
        });
      });
      out.on('error', (err) => reject(err));
    });
  }

  #tmpName(): string {
    return join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  }

  async #download(ref: ImageRef): Promise<string> {
    const target = this.pathFor(ref.sum);
    if (await exists(target)) {
      this.#log.debug({ sum: ref.sum }, 'image cached');
      return target;
    }
    await mkdir(this.dir, { recursive: true });
    const [algo, expected] = ref.sum.split(':') as [SumAlgo, string];
    const safeUrl = redactUrl(ref.url);
    const tmp = this.#tmpName();
    const hash = createHash(algo);
    let bytes = 0;
    let nextReport = PROGRESS_EVERY_BYTES;
    const started = Date.now();
    const log = this.#log;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        if (bytes >= nextReport) {
          nextReport += PROGRESS_EVERY_BYTES;
          log.info({ url: safeUrl, bytes }, 'image download progress');
        }
        cb(null, chunk);
      },
    });
    log.info({ url: safeUrl, sum: ref.sum }, 'image download started');
    try {
      let source: Readable;
      if (ref.url.startsWith('file:')) {
        const path = fileURLToPath(ref.url);
        source = createReadStream(path);
        await new Promise<void>((resolve, reject) => {
          source.once('open', () => resolve());
          source.once('error', (err) => reject(imageError(`${safeUrl}: cannot read (${err.message})`, err)));
        });
      } else {
        source = await openHttp(ref.url, 0);
      }
      await pipeline(source, meter, createWriteStream(tmp, { mode: 0o644 }));
      const actual = hash.digest('hex');
      if (actual !== expected) {
        throw imageError(`image ${safeUrl} has checksum ${algo}:${actual}, expected ${ref.sum}; the file was deleted and not used`);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof DriverError) throw err;
      throw imageError(`image ${safeUrl}: download failed: ${(err as Error).message}`, err);
    }
    log.info({ url: safeUrl, sum: ref.sum, bytes, ms: Date.now() - started }, 'image downloaded and verified');
    return target;
  }
}
