import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { ErrorBody } from '../../model/index.js';
import { answerProblems, apiRoute, schemaProblems, StateEventData } from './api-response-schemas.js';

/**
 * Test support: a stand-in for a Shoal node on 127.0.0.1 (plain or TLS) for client/CLI unit
 * tests that must not depend on the real node. Routes answer canned JSON; /api/v1/events is a
 * real text/event-stream the test writes to. Every request is recorded.
 *
 * Every canned answer is checked against what the real API declares for that route
 * (api-response-schemas.ts: success status and TypeBox schema, or the one error shape): a route
 * the API does not have throws at once, an answer off its schema is sent as a 500
 * FAKE_API_DRIFT and recorded, and close() then rejects listing them — so a stand-in that drifts
 * from the real API fails the test. `sendEvent` checks `state` events the same way. An answer
 * that is off the API's shape on purpose (to test the client's defences) says why in `offSchema`.
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
  /** why this answer is deliberately not what the API sends (it is then not checked) */
  offSchema?: string;
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
  /** resolves when the next stream connection (after those opened so far) is open */
  nextStream(): Promise<ServerResponse>;
  /** answers that were not what the real API sends (each one also fails close()) */
  drift: string[];
  /**
   * writes one SSE event to every open stream; a `state` event's data must be what the API
   * sends (other event names are never sent by the API: they test that the client skips them)
   */
  sendEvent(id: string, event: string, data: unknown): void;
  /** closes every open stream (the client should reconnect) */
  dropStreams(): void;
  /** answer to the next event-stream requests instead of opening a stream (e.g. 401; the API's error shape) */
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
  const drift: string[] = [];

  /** the reply, or a 500 FAKE_API_DRIFT (recorded) when the real API could not have sent it */
  const checked = (method: string, path: string, reply: Reply): Reply => {
    if (reply.offSchema !== undefined) return reply;
    const problem = answerProblems(method, path, { status: reply.status ?? 200, json: reply.json, text: reply.text });
    if (problem === undefined) return reply;
    drift.push(problem);
    return {
      status: 500,
      json: { error: { code: 'FAKE_API_DRIFT', message: `the stand-in node answered what the API never sends: ${problem}` } },
    };
  };

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
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
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
        (reply) => send(res, checked(rec.method, rec.path, reply)),
        (err: unknown) => send(res, { status: 500, json: { error: { code: 'INTERNAL', message: String(err) } } }),
      );
    });
  };

  const streamOpened = (n: number): Promise<ServerResponse> =>
    new Promise((resolve) => {
      if (streamCount >= n) resolve(streams[streams.length - 1]!);
      else streamWaiters.push({ n, resolve });
    });

  const server = tls ? https.createServer({ cert: tls.certPem, key: tls.keyPem }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    streams,
    drift,
    route: (method, path, h) => {
      if (apiRoute(method, path) === undefined)
        throw new Error(`fake API: the API has no route ${method} ${path} (see api-response-schemas.ts)`);
      routes.set(`${method} ${path}`, h);
    },
    streamOpened,
    nextStream: () => streamOpened(streamCount + 1),
    sendEvent: (id, event, data) => {
      const problem = event === 'state' ? schemaProblems(StateEventData, data) : undefined;
      if (problem !== undefined) throw new Error(`fake API: a state event the API never sends: ${problem}`);
      for (const s of streams) s.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    dropStreams: () => {
      for (const s of [...streams]) s.destroy();
    },
    refuseStreams: (reply) => {
      const problem = reply !== undefined && reply.offSchema === undefined ? schemaProblems(ErrorBody, reply.json) : undefined;
      if (problem !== undefined) throw new Error(`fake API: an event-stream refusal must be the API's error shape: ${problem}`);
      refuse = reply;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const s of [...streams]) s.destroy();
        server.closeAllConnections();
        server.close(() =>
          drift.length === 0
            ? resolve()
            : reject(new Error(`the stand-in node answered what the real API never sends:\n${drift.join('\n')}`)),
        );
      }),
  };
}
