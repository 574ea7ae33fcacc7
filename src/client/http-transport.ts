import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { ShoalApiError, ShoalConnectionError, connectionError } from './errors.js';

/** Who the client talks to and as whom. */
export interface ClientOptions {
  /** Node URL, e.g. https://127.0.0.1:8001 (a trailing /api/v1 is accepted). */
  url: string;
  /** PEM of the CA that signed the node certificate (the node's own CA: DATA_DIR/tls/ca.crt). */
  ca?: string;
  /** API token. With `user` it goes as HTTP Basic user:token, without as Bearer. */
  token?: string;
  user?: string;
  /** Per-request timeout in ms (not used for the event stream). Default 30 s. */
  timeoutMs?: number;
}

export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH';
  /** Path below the node URL, starting with "/", e.g. /api/v1/labels. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** 'json' parses the body (default), 'text' returns it as a string. */
  accept?: 'json' | 'text';
  signal?: AbortSignal;
}

/** An open streaming response (the caller reads and closes it). */
export interface OpenStream {
  response: IncomingMessage;
  close(): void;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** Normalised base URL: no trailing slash, no /api/v1 suffix. */
export function normaliseBaseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ShoalConnectionError('UNREACHABLE', `invalid node URL "${raw}": expected e.g. https://127.0.0.1:8001`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ShoalConnectionError('UNREACHABLE', `invalid node URL "${raw}": the scheme must be http or https`);
  }
  url.pathname = url.pathname.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  url.search = '';
  url.hash = '';
  return url;
}

/** Low-level HTTP over node:http/https with the node's CA and the caller's credentials. */
export class HttpTransport {
  readonly baseUrl: URL;
  readonly #ca: string | undefined;
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ClientOptions) {
    this.baseUrl = normaliseBaseUrl(options.url);
    this.#ca = options.ca;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (options.token !== undefined && options.token !== '') {
      this.#auth =
        options.user !== undefined && options.user !== ''
          ? `Basic ${Buffer.from(`${options.user}:${options.token}`).toString('base64')}`
          : `Bearer ${options.token}`;
    }
  }

  /** Full URL of a path below the base (kept for messages). */
  urlFor(path: string, query?: RequestSpec['query']): URL {
    const url = new URL(this.baseUrl.toString());
    url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    return url;
  }

  /** Sends a request and returns the decoded body of a 2xx answer; throws ShoalApiError otherwise. */
  async request<T>(spec: RequestSpec): Promise<T> {
    const url = this.urlFor(spec.path, spec.query);
    const headers: Record<string, string> = {
      accept: spec.accept === 'text' ? 'text/plain, application/json' : 'application/json',
      ...spec.headers,
    };
    let payload: Buffer | undefined;
    if (spec.body !== undefined) {
      payload = Buffer.from(JSON.stringify(spec.body));
      headers['content-type'] = 'application/json';
    }
    if (payload !== undefined || spec.method === 'POST') headers['content-length'] = String(payload?.length ?? 0);
    const { status, body, contentType } = await this.#send(url, spec.method, headers, payload, spec.signal);
    if (status < 200 || status >= 300) throw apiError(status, body, contentType, url);
    if (spec.accept === 'text') return body.toString('utf8') as T;
    if (status === 204 || body.length === 0) return undefined as T;
    try {
      return JSON.parse(body.toString('utf8')) as T;
    } catch {
      throw new ShoalConnectionError(
        'BAD_RESPONSE',
        `${spec.method} ${url.pathname}: the answer is not JSON (is ${this.baseUrl.origin} a Shoal node?)`,
      );
    }
  }

  /**
   * Opens a streaming GET (for Server-Sent Events): resolves once a 2xx answer's headers arrived.
   * No idle timeout; the caller closes it.
   */
  openStream(path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<OpenStream> {
    const url = this.urlFor(path);
    return new Promise<OpenStream>((resolve, reject) => {
      const req = this.#module(url).request(url, {
        method: 'GET',
        headers: { ...this.#headers(), accept: 'text/event-stream', 'cache-control': 'no-cache', ...headers },
        ca: this.#ca,
        agent: false,
        signal,
      });
      const connectTimer = setTimeout(
        () => req.destroy(new ShoalConnectionError('TIMEOUT', `no answer from ${url.origin} within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      req.on('error', (err) => {
        clearTimeout(connectTimer);
        reject(err instanceof ShoalConnectionError || isAbort(err) ? err : connectionError(err, url.origin, this.#ca !== undefined));
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          readAll(res)
            .then((body) => reject(apiError(status, body, String(res.headers['content-type'] ?? ''), url)))
            .catch((err: unknown) => reject(connectionError(err, url.origin, this.#ca !== undefined)));
          return;
        }
        resolve({ response: res, close: () => req.destroy() });
      });
      req.end();
    });
  }

  #module(url: URL): typeof http | typeof https {
    return url.protocol === 'https:' ? https : http;
  }

  #headers(): Record<string, string> {
    return this.#auth !== undefined ? { authorization: this.#auth } : {};
  }

  #send(
    url: URL,
    method: string,
    headers: Record<string, string>,
    payload: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ status: number; body: Buffer; contentType: string }> {
    return new Promise((resolve, reject) => {
      const req = this.#module(url).request(url, {
        method,
        headers: { ...this.#headers(), ...headers },
        ca: this.#ca,
        agent: false,
        signal,
      });
      req.setTimeout(this.#timeoutMs, () =>
        req.destroy(
          new ShoalConnectionError('TIMEOUT', `${method} ${url.pathname}: no answer from ${url.origin} within ${this.#timeoutMs} ms`),
        ),
      );
      req.on('error', (err) =>
        reject(err instanceof ShoalConnectionError || isAbort(err) ? err : connectionError(err, url.origin, this.#ca !== undefined)),
      );
      req.on('response', (res) => {
        readAll(res)
          .then((body) => resolve({ status: res.statusCode ?? 0, body, contentType: String(res.headers['content-type'] ?? '') }))
          .catch((err: unknown) =>
            reject(err instanceof ShoalConnectionError ? err : connectionError(err, url.origin, this.#ca !== undefined)),
          );
      });
      req.end(payload);
    });
  }
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.destroy(new ShoalConnectionError('BAD_RESPONSE', `answer larger than ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new ShoalConnectionError('UNREACHABLE', 'the connection closed before the answer was complete')));
  });
}

/** Builds a ShoalApiError from a non-2xx answer, using the API's error shape when it is there. */
export function apiError(status: number, body: Buffer, contentType: string, url: URL): ShoalApiError {
  const text = body.toString('utf8');
  if (contentType.includes('json') || text.trimStart().startsWith('{')) {
    try {
      const parsed: unknown = JSON.parse(text);
      const err = typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
      if (typeof err === 'object' && err !== null) {
        const { code, message, details } = err as { code?: unknown; message?: unknown; details?: unknown };
        if (typeof code === 'string' && typeof message === 'string') return new ShoalApiError(status, code, message, details);
      }
    } catch {
      // not JSON after all: fall through to the generic error
    }
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const reason = http.STATUS_CODES[status] ?? 'error';
  return new ShoalApiError(status, `HTTP_${status}`, `${url.pathname}: ${status} ${reason}${snippet !== '' ? `: ${snippet}` : ''}`);
}
