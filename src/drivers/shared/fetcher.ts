/**
 * Opens the body of a URL under a UrlPolicy: file:// through the policy's checked open, http(s)
 * with a DNS lookup that refuses forbidden addresses at connect time (so a name that changes its
 * answer between check and connect cannot get through), every redirect re-checked, a
 * Content-Length over the limit refused before reading, and an AbortSignal that closes the
 * socket or file. Errors say which rule refused a URL; they never carry a body.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { Transform, type Readable } from 'node:stream';
import { DriverError } from '../../contract/index.js';
import { formatSize, redactUrl, type UrlPolicy } from './url-policy.js';

const MAX_REDIRECTS = 5;
const HTTP_IDLE_TIMEOUT_MS = 60_000;

export interface OpenOptions {
  /** the definition field the URL came from, for messages (e.g. `options.images[0].url`) */
  field: string;
  signal?: AbortSignal;
}

export interface OpenedBody {
  stream: Readable;
  /** announced or known size in bytes, when known */
  size: number | undefined;
}

function imageError(field: string, message: string, cause?: unknown): DriverError {
  return new DriverError('IMAGE', `${field}: ${message}`, { field, ...(cause === undefined ? {} : { cause }) });
}

/** The error an aborted fetch rejects with. */
export function cancelledError(field: string, signal: AbortSignal | undefined): DriverError {
  const why =
    signal?.reason instanceof Error
      ? signal.reason.message
      : typeof signal?.reason === 'string'
        ? signal.reason
        : 'nobody waits for it any more';
  return imageError(field, `download cancelled: ${why}`);
}

/** A dns.lookup that answers only with addresses the policy allows for `host`; else fails with the reason. */
export function guardedLookup(policy: UrlPolicy, field: string, shownUrl: string): LookupFunction {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, '', 0);
        return;
      }
      for (const a of addresses) {
        const why = policy.addressRefusal(hostname, a.address);
        if (why) {
          callback(imageError(field, `${shownUrl} is refused: ${why}`), '', 0);
          return;
        }
      }
      if (addresses.length === 0) {
        callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      } else if (options.all) {
        callback(null, addresses);
      } else {
        callback(null, addresses[0]!.address, addresses[0]!.family);
      }
    });
  };
}

/** Errors a stream once more than `max` bytes went through. */
export function byteLimit(max: number, field: string, shownUrl: string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) {
        cb(
          imageError(
            field,
            `${shownUrl} delivered more than the limit of ${formatSize(max)} (config fetch.max_image_size); the download was stopped`,
          ),
        );
        return;
      }
      cb(null, chunk);
    },
  });
}

function openHttp(policy: UrlPolicy, url: URL, opts: OpenOptions, redirects: number): Promise<OpenedBody> {
  const shown = redactUrl(url.toString());
  try {
    policy.checkHttpTarget(url, opts.field, 'IMAGE');
  } catch (err) {
    return Promise.reject(err);
  }
  if (opts.signal?.aborted) return Promise.reject(cancelledError(opts.field, opts.signal));
  return new Promise((resolve, reject) => {
    const get = url.protocol === 'https:' ? https.get : http.get;
    const req = get(
      url,
      { lookup: guardedLookup(policy, opts.field, shown), signal: opts.signal, headers: { 'accept-encoding': 'identity' } },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.destroy();
          if (redirects >= MAX_REDIRECTS) {
            reject(imageError(opts.field, `${shown}: more than ${MAX_REDIRECTS} redirects`));
            return;
          }
          let next: URL;
          try {
            next = new URL(res.headers.location, url);
          } catch {
            reject(imageError(opts.field, `${shown}: redirect to an invalid URL`));
            return;
          }
          if (next.protocol !== 'http:' && next.protocol !== 'https:') {
            reject(imageError(opts.field, `${shown}: redirect to a ${next.protocol} URL is refused (only http:// and https://)`));
            return;
          }
          openHttp(policy, next, opts, redirects + 1).then(resolve, reject);
          return;
        }
        if (status !== 200) {
          res.destroy(); // the body is never read: it must not reach any message
          reject(imageError(opts.field, `${shown}: HTTP ${status}`));
          return;
        }
        const header = res.headers['content-length'];
        const size = header !== undefined && /^[0-9]+$/.test(header) ? Number(header) : undefined;
        if (size !== undefined && size > policy.maxBytes) {
          res.destroy();
          reject(
            imageError(
              opts.field,
              `${shown} is ${formatSize(size)}, more than the limit of ${formatSize(policy.maxBytes)} (config fetch.max_image_size)`,
            ),
          );
          return;
        }
        resolve({ stream: res, size });
      },
    );
    req.setTimeout(HTTP_IDLE_TIMEOUT_MS, () => req.destroy(new Error(`no data for ${HTTP_IDLE_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: Error) => {
      if (err instanceof DriverError) reject(err);
      else if (opts.signal?.aborted) reject(cancelledError(opts.field, opts.signal));
      else reject(imageError(opts.field, `${shown}: download failed (${(err as NodeJS.ErrnoException).code ?? err.message})`, err));
    });
  });
}

/**
 * Opens a URL's body under the policy. The caller pipes `stream` through `byteLimit` (the size
 * announced is checked here) and destroys it when done or aborted.
 */
export async function openUrl(policy: UrlPolicy, rawUrl: string, opts: OpenOptions): Promise<OpenedBody> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw imageError(opts.field, 'is not a valid URL');
  }
  if (url.protocol === 'file:') {
    const { handle, size } = await policy.openFile(rawUrl, opts.field);
    if (opts.signal?.aborted) {
      await handle.close();
      throw cancelledError(opts.field, opts.signal);
    }
    return { stream: handle.createReadStream(), size };
  }
  return openHttp(policy, url, opts, 0);
}
