import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreService, MetaIdentity } from '../../core/core-service.js';
import { filterPrefix, isMetaFormat, META_CONTENT_TYPES, META_FORMATS, renderMetadata, UnrenderableMetadata } from './meta-format.js';
import type { TokenBuckets } from './meta-rate-limit.js';

export const META_PATH = '/meta/v1/data';

/** The Meta API only needs this from the core. */
export type MetaSource = Pick<CoreService, 'metadataFor'>;

/** How a listener tells who is calling (null: nobody it knows → 404). */
export type MetaIdentify = (req: IncomingMessage) => MetaIdentity | null | undefined;

export interface MetaHandlerOptions {
  /** where unexpected failures are reported (never with metadata) */
  onError?: (err: unknown) => void;
  /** requests per resource; share one instance between every listener and channel of a node */
  rateLimit?: TokenBuckets;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const NOT_FOUND = JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not found' } });
const BAD_FORMAT = JSON.stringify({
  error: { code: 'INVALID', message: `format must be one of: ${META_FORMATS.join(', ')}` },
});
const INTERNAL = JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } });

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  head: boolean,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(head ? undefined : body);
}

function identityKey(identity: MetaIdentity): string {
  return identity.kind === 'address'
    ? `address:${identity.address}`
    : identity.kind === 'hwaddr'
      ? `hwaddr:${identity.hwaddr.toLowerCase()}`
      : JSON.stringify(identity);
}

/**
 * The Meta API as a plain node:http handler, so it can serve the node's listener and per-resource
 * channels alike: `GET /meta/v1/data[?format=json|env|yaml][&prefix=P]` answers the merged
 * metadata of the ALLOCATED resource `identify` names. Everything else — another path or method,
 * a caller that is no allocated resource — gets the same 404 that reveals nothing. A resource
 * over its request rate gets 429. Every failure stays in its request: the handler never throws
 * and never leaves a rejected promise behind.
 */
export function createMetaHandler(
  core: MetaSource,
  identify: MetaIdentify,
  options: MetaHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const head = req.method === 'HEAD';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if ((req.method !== 'GET' && !head) || path !== META_PATH) {
      send(res, 404, JSON_TYPE, NOT_FOUND, head);
      return;
    }
    let identity: MetaIdentity | null | undefined;
    try {
      identity = identify(req);
    } catch (err) {
      options.onError?.(err);
      identity = null;
    }
    if (identity === null || identity === undefined) {
      send(res, 404, JSON_TYPE, NOT_FOUND, head);
      return;
    }
    try {
      const data = await core.metadataFor(identity);
      if (data === null) {
        send(res, 404, JSON_TYPE, NOT_FOUND, head);
        return;
      }
      const wait = options.rateLimit?.take(identityKey(identity)) ?? 0;
      if (wait > 0) {
        const limit = options.rateLimit!.limit;
        const body = JSON.stringify({
          error: {
            code: 'TOO_MANY_REQUESTS',
            message:
              `too many Meta API requests from this resource: the limit is ${limit.perSecond} per second` +
              ` (bursts of ${limit.burst}); retry in ${wait} s`,
            details: { retry_after: wait },
          },
        });
        send(res, 429, JSON_TYPE, body, head, { 'retry-after': String(wait) });
        return;
      }
      const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
      const format = params.get('format') ?? 'json';
      if (!isMetaFormat(format)) {
        send(res, 400, JSON_TYPE, BAD_FORMAT, head);
        return;
      }
      const body = renderMetadata(filterPrefix(data, params.get('prefix') ?? ''), format);
      send(res, 200, META_CONTENT_TYPES[format], body, head);
    } catch (err) {
      if (err instanceof UnrenderableMetadata) {
        options.onError?.(new Error(err.message)); // the message names the problem, never a value
        send(res, 500, JSON_TYPE, JSON.stringify({ error: { code: 'INTERNAL', message: err.message } }), head);
        return;
      }
      options.onError?.(err);
      send(res, 500, JSON_TYPE, INTERNAL, head);
    }
  };
  return (req, res) => {
    serve(req, res).catch((err: unknown) => {
      // only a failing onError or socket write can land here
      try {
        res.destroy();
      } catch {
        /* the socket is gone already */
      }
      if (options.onError) {
        try {
          options.onError(err);
        } catch {
          /* nothing else to do */
        }
      }
    });
  };
}
