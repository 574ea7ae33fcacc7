/**
 * A per-node cache of image files (`{url, sum}` pairs from label definitions), shared by the
 * docker and qemu drivers. Every URL goes through the node's UrlPolicy (url-policy.ts) and the
 * fetcher (fetcher.ts): nothing outside the allowed import directories, no non-public address,
 * at most the size limit.
 *
 *   parseImageRef(raw, field) -> ImageRef
 *     Checks one `{url, sum}` value of a definition. `url` is `file://…`, `http://…` or `https://…`;
 *     `sum` is `sha256:<64 hex>` or `sha512:<128 hex>`. Throws DriverError INVALID_DEFINITION whose
 *     `field` names the bad part, e.g. `options.images[0].sum`. (The policy is applied by the
 *     drivers' validateDefinition through `UrlPolicy.checkForLabel`.)
 *
 *   new ImageCache({ dir, log, policy? })
 *     `dir` is created (0700) when missing. Files (0600) are kept as `<dir>/<algo>-<hex>` (the
 *     verified original) and `<dir>/<algo>-<hex>.unpacked` (its decompressed copy).
 *
 *   cache.fetch(ref, { decompress?, signal?, field? }) -> Promise<string>  (path of a local file)
 *     - downloads once per node: http(s) is streamed, file:// is copied into the cache;
 *     - the checksum is verified BEFORE the file is used; a mismatch rejects with DriverError
 *       'IMAGE' naming the expected checksum only (never what the file was), and the file is deleted;
 *     - cached by checksum: a second fetch of the same sum does not download again;
 *     - concurrent fetches of the same ref share one download; each caller may leave with its
 *       `signal`, and when every waiter has left the download is destroyed (socket closed, temp
 *       file removed);
 *     - urls are logged without credentials or query;
 *     - `decompress: true` returns a decompressed copy when the file is gzip, xz or zstd (detected
 *       by magic bytes: node zlib for gzip, the `xz` / `zstd` CLIs for the others), else the
 *       original path. Tar archives are NOT unpacked: callers get a plain .tar file.
 *     Returned files must be treated as read-only (they are shared).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { DriverError, invalidDefinition, type DriverLogger, type FetchPolicy } from '../../contract/index.js';
import { byteLimit, cancelledError, openUrl } from './fetcher.js';
import { SharedWork } from './shared-work.js';
import { UrlPolicy, redactUrl } from './url-policy.js';
import { pathExists } from '../../lib/fs.js';

export { redactUrl };

export interface ImageRef {
  /** file://, http:// or https:// */
  url: string;
  /** "sha256:<64 hex>" or "sha512:<128 hex>" (lower-case after parsing) */
  sum: string;
}

export interface ImageCacheOptions {
  dir: string;
  log: DriverLogger;
  /** where URLs may point and how large a file may be; absent = the safe default */
  policy?: UrlPolicy | FetchPolicy;
}

export interface FetchOptions {
  /** return a decompressed copy when the file is gzip/xz/zstd */
  decompress?: boolean;
  /** this caller stops waiting when it aborts; the download stops when no caller waits */
  signal?: AbortSignal;
  /** the definition field the ref came from, for messages (default "image") */
  field?: string;
}

const SUM_ALGOS = { sha256: 64, sha512: 128 } as const;
type SumAlgo = keyof typeof SUM_ALGOS;
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

function imageError(message: string, cause?: unknown): DriverError {
  return new DriverError('IMAGE', message, cause === undefined ? undefined : { cause });
}

export class ImageCache {
  readonly dir: string;
  readonly policy: UrlPolicy;
  readonly #log: DriverLogger;
  readonly #work = new SharedWork<string>((key, signal) => cancelledError(`image ${key.replace(/\+unpacked$/, '')}`, signal));
  #dirReady: Promise<void> | undefined;

  constructor(opts: ImageCacheOptions) {
    this.dir = opts.dir;
    this.#log = opts.log;
    this.policy = opts.policy instanceof UrlPolicy ? opts.policy : new UrlPolicy(opts.policy);
  }

  /** Path of the verified original for a sum (whether or not it is cached yet). */
  pathFor(sum: string): string {
    return join(this.dir, sum.toLowerCase().replace(':', '-'));
  }

  /** How many callers wait for the download of `sum` now (0 = none running). */
  waiters(sum: string): number {
    return this.#work.waiters(sum.toLowerCase());
  }

  /**
   * Delete the cached file of `sum` and its decompressed copy (sidecar files such as an index stay):
   * for a caller that keeps the content elsewhere now (the docker driver, once the daemon holds the
   * image). A later fetch downloads it again.
   */
  async discard(sum: string): Promise<void> {
    const path = this.pathFor(sum);
    await rm(`${path}.unpacked`, { force: true });
    await rm(path, { force: true });
    this.#log.debug({ sum }, 'cached image file discarded');
  }

  /** Resolves when no download or decompression is running (cancelled ones have removed their temp files). */
  idle(): Promise<void> {
    return this.#work.idle();
  }

  fetch(ref: ImageRef, opts: FetchOptions = {}): Promise<string> {
    let checked: ImageRef;
    try {
      checked = parseImageRef(ref, opts.field ?? 'image');
    } catch (err) {
      return Promise.reject(err);
    }
    const field = opts.field ?? 'image';
    if (!opts.decompress) return this.#work.run(checked.sum, (signal) => this.#download(checked, field, signal), opts.signal);
    return this.#work.run(`${checked.sum}+unpacked`, (signal) => this.#fetchUnpacked(checked, field, signal), opts.signal);
  }

  /** The cache dir, private to the node's user (also when an older version made it 0755). */
  #ensureDir(): Promise<void> {
    this.#dirReady ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await chmod(this.dir, 0o700);
    })().catch((err: unknown) => {
      this.#dirReady = undefined;
      throw err;
    });
    return this.#dirReady;
  }

  async #fetchUnpacked(ref: ImageRef, field: string, signal: AbortSignal): Promise<string> {
    const original = await this.#work.run(ref.sum, (s) => this.#download(ref, field, s), signal);
    const kind = await detectCompression(original);
    if (kind === 'none') return original;
    const target = `${original}.unpacked`;
    if (await pathExists(target)) return target;
    const tmp = this.#tmpName();
    const started = Date.now();
    try {
      signal.throwIfAborted();
      if (kind === 'gzip') {
        await pipeline(createReadStream(original), createGunzip(), createWriteStream(tmp, { mode: 0o600 }), { signal });
      } else {
        await this.#runDecompressor(kind === 'xz' ? 'xz' : 'zstd', original, tmp, signal);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (signal.aborted) throw cancelledError(field, signal);
      if (err instanceof DriverError) throw err;
      throw imageError(`image ${ref.sum}: cannot decompress (${kind}): ${(err as Error).message}`, err);
    }
    const size = (await stat(target)).size;
    this.#log.info({ sum: ref.sum, compression: kind, bytes: size, ms: Date.now() - started }, 'image decompressed');
    return target;
  }

  #runDecompressor(cmd: 'xz' | 'zstd', input: string, output: string, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const out = createWriteStream(output, { mode: 0o600 });
      out.on('open', () => {
        const args = cmd === 'xz' ? ['-d', '-c', '-T0', input] : ['-d', '-c', '-q', input];
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => {
          if (stderr.length < 2000) stderr += d.toString();
        });
        const piped = pipeline(child.stdout, out);
        child.on('error', (err) => {
          out.destroy();
          if (signal.aborted) reject(err);
          else reject(imageError(`cannot run ${cmd} (install the ${cmd === 'xz' ? 'xz-utils' : 'zstd'} package): ${err.message}`, err));
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

  async #download(ref: ImageRef, field: string, signal: AbortSignal): Promise<string> {
    const target = this.pathFor(ref.sum);
    if (await pathExists(target)) {
      this.#log.debug({ sum: ref.sum }, 'image cached');
      return target;
    }
    await this.#ensureDir();
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
      const body = await openUrl(this.policy, ref.url, { field, signal });
      try {
        await pipeline(body.stream, byteLimit(this.policy.maxBytes, field, safeUrl), meter, createWriteStream(tmp, { mode: 0o600 }), {
          signal,
        });
      } finally {
        body.stream.destroy();
      }
      if (hash.digest('hex') !== expected) {
        throw imageError(`${field}: the file at ${safeUrl} does not have the expected checksum ${ref.sum}; it was deleted and not used`);
      }
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      if (signal.aborted) {
        log.info({ url: safeUrl, sum: ref.sum, bytes }, 'image download cancelled: nobody waits for it');
        throw cancelledError(field, signal);
      }
      if (err instanceof DriverError) throw err;
      throw imageError(`${field}: ${safeUrl}: download failed (${(err as NodeJS.ErrnoException).code ?? 'error'})`, err);
    }
    log.info({ url: safeUrl, sum: ref.sum, bytes, ms: Date.now() - started }, 'image downloaded and verified');
    return target;
  }
}
