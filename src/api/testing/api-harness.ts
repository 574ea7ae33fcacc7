import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { CoreService } from '../../core/core-service.js';
import { Harness, type NodeSpec, type TestNode } from '../../core/testing/core-harness.js';
import { buildApi, type ApiOptions } from '../build-api.js';
import { SseParser } from '../../client/sse-parser.js';
import type { TestDialect } from '../../store/testing/index.js';

/**
 * Test helpers for the API: a real Core (real SQLite store in a temp dir, real `test` driver)
 * behind a real Fastify instance. For tests only.
 */

export interface ApiTestNode {
  harness: Harness;
  node: TestNode;
  /** the core as the API sees it (possibly wrapped by the test) */
  core: CoreService;
  app: FastifyInstance;
  adminToken: string;
  /** every line the API logged (pino JSON) */
  logs: string[];
  /** base URL once `listen()` was called */
  url: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface ApiTestOptions {
  node?: NodeSpec;
  api?: Partial<Omit<ApiOptions, 'core' | 'log' | 'metrics'>>;
  /** wraps the core before the API gets it (to observe calls) */
  wrapCore?: (core: CoreService) => CoreService;
  /** the store's database (default sqlite) */
  dialect?: TestDialect;
}

export async function startApiNode(opts: ApiTestOptions = {}): Promise<ApiTestNode> {
  const harness = await Harness.create(opts.dialect ?? 'sqlite');
  try {
    const node = await harness.node(opts.node ?? {});
    const adminToken = await node.core.bootstrapAdmin();
    if (adminToken === null) throw new Error('bootstrapAdmin gave no token on a fresh store');
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });
    const core = opts.wrapCore ? opts.wrapCore(node.core) : node.core;
    const app = await buildApi({ core, log: pino({ level: 'debug' }, sink), metrics: node.registry, ...(opts.api ?? {}) });
    await app.ready();
    const t: ApiTestNode = {
      harness,
      node,
      core,
      app,
      adminToken,
      logs,
      url: '',
      async listen() {
        await app.listen({ host: '127.0.0.1', port: 0 });
        t.url = `${opts.api?.https ? 'https' : 'http'}://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
        return t.url;
      },
      async close() {
        await app.close();
        await harness.close();
      },
    };
    return t;
  } catch (err) {
    await harness.close();
    throw err;
  }
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
export const basic = (name: string, token: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`,
});

/** Creates a user through the API (as admin) and returns its token. */
export async function createUser(t: ApiTestNode, name: string, role: 'user' | 'admin' = 'user'): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: '/api/v1/users', headers: bearer(t.adminToken), payload: { name, role } });
  if (r.statusCode !== 201) throw new Error(`creating user ${name}: ${r.statusCode} ${r.body}`);
  return r.json<{ token: string }>().token;
}

/** A label body for the test driver. */
export function testLabelBody(name: string, metadata: Record<string, unknown> = { LABEL_KEY: 'label-value', SHARED: 'from-label' }) {
  return { name, definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }], metadata };
}

/** Polls GET .../state until `status` (bounded: 30 s). */
export async function waitForState(
  t: ApiTestNode,
  token: string,
  uid: string,
  status: string | string[],
): Promise<{ status: string; description: string }> {
  const want = Array.isArray(status) ? status : [status];
  const deadline = Date.now() + 30_000;
  let last = '';
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    const r = await t.app.inject({ url: `/api/v1/applications/${uid}/state`, headers: bearer(token) });
    if (r.statusCode !== 200) throw new Error(`state of ${uid}: ${r.statusCode} ${r.body}`);
    const s = r.json<{ status: string; description: string }>();
    if (want.includes(s.status)) return s;
    last = s.status;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error(`timed out waiting for ${uid} to be ${want.join('|')} (last ${last})`);
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One plain HTTP request to loopback, optionally from a given source address. */
export function rawGet(
  url: string,
  opts: { localAddress?: string; headers?: Record<string, string>; method?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        timeout: 15_000,
        agent: false,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

export interface SseEvent {
  id: string;
  event: string;
  data: string;
}

/** A Server-Sent Events client reading a real connection; collects events and comments (the client's own parser). */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  status = 0;
  headers: IncomingHttpHeaders = {};
  readonly #parser = new SseParser({
    onMessage: (m) => this.events.push({ id: m.id ?? '', event: m.event, data: m.data }),
    onComment: (comment) => this.comments.push(comment.trim()),
  });
  #waiters: Array<() => void> = [];
  #closed = false;
  #destroy: () => void = () => {};

  static open(url: string, headers: Record<string, string>): Promise<SseClient> {
    const c = new SseClient();
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { headers: { accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        c.status = res.statusCode ?? 0;
        c.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => c.#feed(chunk));
        res.on('close', () => {
          c.#closed = true;
          c.#wake();
        });
        resolve(c);
      });
      c.#destroy = () => req.destroy();
      req.on('error', (err) => {
        c.#closed = true;
        c.#wake();
        reject(err);
      });
      req.end();
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** the raw text so far (for non-SSE answers such as errors) */
  raw = '';

  #feed(chunk: string): void {
    this.raw += chunk;
    this.#parser.feed(chunk);
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Waits (bounded) until `check` holds over what was received. */
  async until(what: string, check: (c: SseClient) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      if (this.#closed) throw new Error(`stream closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.#destroy();
  }
}
