import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreService, MetaIdentity } from '../../core/core-service.js';
import { filterPrefix, formatMetadata, isMetaFormat, META_CONTENT_TYPES, META_FORMATS } from './meta-format.js';

export const META_PATH = '/meta/v1/data';

/** The Meta API only needs this from the core. */
export type MetaSource = Pick<CoreService, 'metadataFor'>;

/** How a listener tells who is calling (null: nobody it knows → 404). */
export type MetaIdentify = (req: IncomingMessage) => MetaIdentity | null | undefined;

export interface MetaHandlerOptions {
  /** where unexpected failures are reported (never with metadata) */
  onError?: (err: unknown) => void;
}

const NOT_FOUND = JSON.stringify({ error: { code: 'NOT_FOUND', message: 'not found' } });
const BAD_FORMAT = JSON.stringify({
  error: { code: 'INVALID', message: `format must be one of: ${META_FORMATS.join(', ')}` },
});
const INTERNAL = JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } });

function send(res: ServerResponse, status: number, contentType: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(head ? undefined : body);
}

/**
 * The Meta API as a plain node:http handler, so it can serve the node's listener and per-resource
 * channels alike: `GET /meta/v1/data[?format=json|env|yaml][&prefix=P]` answers the merged
 * metadata of the ALLOCATED resource `identify` names. Everything else — another path or method,
 * a caller that is no allocated resource — gets the same 404 that reveals nothing.
 */
export function createMetaHandler(
  core: MetaSource,
  identify: MetaIdentify,
  options: MetaHandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const head = req.method === 'HEAD';
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if ((req.method !== 'GET' && !head) || path !== META_PATH) {
      send(res, 404, 'application/json; charset=utf-8', NOT_FOUND, head);
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
      send(res, 404, 'application/json; charset=utf-8', NOT_FOUND, head);
      return;
    }
    core.metadataFor(identity).then(
      (data) => {
        if (data === null) {
          send(res, 404, 'application/json; charset=utf-8', NOT_FOUND, head);
          return;
        }
        const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
        const format = params.get('format') ?? 'json';
        if (!isMetaFormat(format)) {
          send(res, 400, 'application/json; charset=utf-8', BAD_FORMAT, head);
          return;
        }
        const body = formatMetadata(filterPrefix(data, params.get('prefix') ?? ''), format);
        send(res, 200, META_CONTENT_TYPES[format], body, head);
      },
      (err: unknown) => {
        options.onError?.(err);
        if (!res.headersSent) send(res, 500, 'application/json; charset=utf-8', INTERNAL, head);
      },
    );
  };
}
