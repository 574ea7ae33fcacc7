import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';

/**
 * Test support: a stand-in for a Shoal node on 127.0.0.1 (plain or TLS) for client/CLI unit
 * tests that must not depend on the real node. Routes answer canned JSON; /api/v1/events is a
 * real text/event-stream the test writes to. Every request is recorded.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Reply {
  status?: number;
  json?: unknown;
  text?: string;
  headers?: Record<string, string>;
}

export type Route = (req: RecordedRequest) => Reply | Promise<Reply>;

export interface FakeApi {
  url: string;
  requests: RecordedRequest[];
  /** METHOD /path → handler (exact path match) */
  route(method: string, path: string, handler: Route): void;
  /** open event-stream connections */
  streams: ServerResponse[];
  /** resolves when the n-th stream connection (1-based) is open */
  streamOpened(n: number): Promise<ServerResponse>;
  /** writes one SSE event to every open stream */
  sendEvent(id: string, event: string, data: unknown): void;
  /** closes every open stream (the client should reconnect) */
  dropStreams(): void;
  /** answer to the next event-stream requests instead of opening a stream (e.g. 401) */
  refuseStreams(reply: Reply | undefined): void;
  close(): Promise<void>;
}

export async function startFakeApi(tls?: { certPem: string; keyPem: string }): Promise<FakeApi> {
  const routes = new Map<string, Route>();
  const requests: RecordedRequest[] = [];
  const streams: ServerResponse[] = [];
  const streamWaiters: Array<{ n: number; resolve: (r: ServerResponse) => void }> = [];
  let streamCount = 0;
  let refuse: Reply | undefined;

  const send = (res: ServerResponse, reply: Reply): void => {
    const status = reply.status ?? 200;
    if (reply.text !== undefined) {
      res.writeHead(status, { 'content-type': 'text/plain', ...reply.headers });
      res.end(reply.text);
    } else {
      res.writeHead(status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.json === undefined ? '' : JSON.stringify(reply.json));
    }
  };

  const handler: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      const rec: RecordedRequest = { method: req.method ?? 'GET', path: u.pathname, query: u.searchParams, headers: req.headers, body: Buffer.concat(chunks).toString() };
      requests.push(rec);
      if (rec.method === 'GET' && rec.path === '/api/v1/events') {
        if (refuse !== undefined) {
          send(res, refuse);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        res.write(': connected\n\n');
        streams.push(res);
        streamCount += 1;
        res.on('close', () => {
          const i = streams.indexOf(res);
          if (i !== -1) streams.splice(i, 1);
        });
        for (const w of streamWaiters.filter((x) => x.n === streamCount)) w.resolve(res);
        return;
      }
      const route = routes.get(`${rec.method} ${rec.path}`);
      if (route === undefined) {
        send(res, { status: 404, json: { error: { code: 'NOT_FOUND', message: `no route ${rec.method} ${rec.path}` } } });
        return;
      }
      Promise.resolve(route(rec)).then(
        (reply) => send(res, reply),
        (err: unknown) => send(res, { status: 500, json: { error: { code: 'INTERNAL', message: String(err) } } }),
      );
    });
  };

  const server = tls ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    streams,
    route: (method, path, h) => void routes.set(`${method} ${path}`, h),
    streamOpened: (n) =>
      new Promise((resolve) => {
        if (streamCount >= n) resolve(streams[streams.length - 1]!);
        else streamWaiters.push({ n, resolve });
      }),
    sendEvent: (id, event, data) => {
      for (const s of streams) s.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    dropStreams: () => {
      for (const s of [...streams]) s.destroy();
    },
    refuseStreams: (reply) => {
      refuse = reply;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of [...streams]) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
