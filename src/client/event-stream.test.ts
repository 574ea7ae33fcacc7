import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import type { StateEvent } from '../model/index.js';
import { ShoalApiError, ShoalClient, ShoalConnectionError } from './index.js';
import { startFakeApi, type FakeApi } from './testing/fake-api.js';

const UID = '0b7d6c1e-3f1a-4c2b-9d7e-1a2b3c4d5e6f';
const at = '2024-01-01T00:00:00.000Z';

function state(status: string): Omit<StateEvent, 'id'> {
  return { application_uid: UID, status: status as StateEvent['status'], description: '', created_at: at };
}

/** Takes n events from the stream (bounded by the test's own timeout). */
async function take(it: AsyncIterator<StateEvent>, n: number): Promise<StateEvent[]> {
  const out: StateEvent[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe('EventStream (GET /api/v1/events)', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi();
  });
  after(() => api.close());

  it('yields state events with their SSE id, skips other event types, and authenticates', async () => {
    const client = new ShoalClient({ url: api.url, token: 'tok' });
    const before = api.requests.length;
    const stream = client.events({ initialRetryMs: 20 });
    await stream.connected();
    const iter = stream[Symbol.asyncIterator]();
    api.sendEvent('1', 'ping', {});
    api.sendEvent('2', 'state', state('NEW'));
    api.sendEvent('3', 'state', state('ALLOCATED'));
    const got = await take(iter, 2);
    stream.close();
    assert.deepEqual(
      got.map((e) => [e.id, e.status, e.application_uid]),
      [
        ['2', 'NEW', UID],
        ['3', 'ALLOCATED', UID],
      ],
    );
    assert.equal(stream.lastEventId, '3');
    const req = api.requests.slice(before).find((r) => r.path === '/api/v1/events')!;
    assert.equal(req.headers.authorization, 'Bearer tok');
    assert.equal(req.headers.accept, 'text/event-stream');
    assert.equal(req.headers['last-event-id'], undefined);
  });

  it('reconnects after the connection drops, resuming with Last-Event-ID, without losing or repeating events', async () => {
    const client = new ShoalClient({ url: api.url, token: 'tok' });
    const opened = api.requests.filter((r) => r.path === '/api/v1/events').length;
    const connects: boolean[] = [];
    const stream = client.events({ lastEventId: '10', initialRetryMs: 20, onConnect: ({ reconnect }) => connects.push(reconnect) });
    await stream.connected();
    const iter = stream[Symbol.asyncIterator]();
    api.sendEvent('11', 'state', state('NEW'));
    const first = await take(iter, 1);
    const reopened = api.streamOpened(opened + 2);
    api.dropStreams();
    await reopened;
    api.sendEvent('12', 'state', state('ELECTED'));
    const second = await take(iter, 1);
    stream.close();
    assert.deepEqual(
      [...first, ...second].map((e) => e.id),
      ['11', '12'],
    );
    const reqs = api.requests.filter((r) => r.path === '/api/v1/events').slice(opened);
    assert.deepEqual(
      reqs.map((r) => r.headers['last-event-id']),
      ['10', '11'],
    );
    assert.deepEqual(connects, [false, true]);
  });

  it('stops with the API error (no reconnecting) when the stream is refused with 401', async () => {
    api.refuseStreams({ status: 401, json: { error: { code: 'UNAUTHORIZED', message: 'bad token' } } });
    try {
      const opened = api.requests.filter((r) => r.path === '/api/v1/events').length;
      const stream = new ShoalClient({ url: api.url, token: 'wrong' }).events({ initialRetryMs: 20 });
      await assert.rejects(stream.connected(), (e: unknown) => e instanceof ShoalApiError && e.code === 'UNAUTHORIZED');
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // nothing arrives
          }
        })(),
        (e: unknown) => e instanceof ShoalApiError && e.status === 401,
      );
      assert.equal(api.requests.filter((r) => r.path === '/api/v1/events').length, opened + 1);
    } finally {
      api.refuseStreams(undefined);
    }
  });

  it('gives up after maxConsecutiveFailures when nobody listens', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const disconnects: number[] = [];
    const stream = new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't' }).events({
      maxConsecutiveFailures: 3,
      initialRetryMs: 5,
      onDisconnect: ({ delayMs }) => disconnects.push(delayMs),
    });
    await assert.rejects(stream.connected(), (e: unknown) => e instanceof ShoalConnectionError && /gave up after 3/.test(e.message));
    assert.deepEqual(disconnects, [5, 10]);
  });

  it('gives up after maxInitialFailures when the first connection never succeeds, reporting each attempt', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const disconnects: Array<{ delayMs: number; everConnected: boolean; failures: number }> = [];
    const stream = new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't' }).events({
      maxInitialFailures: 2,
      initialRetryMs: 5,
      onDisconnect: ({ delayMs, everConnected, failures }) => disconnects.push({ delayMs, everConnected, failures }),
    });
    await assert.rejects(
      stream.connected(),
      (e: unknown) =>
        e instanceof ShoalConnectionError &&
        e.code === 'UNREACHABLE' &&
        /^could not open the event stream \(2 attempts\): .*connection refused/.test(e.message),
    );
    assert.deepEqual(disconnects, [{ delayMs: 5, everConnected: false, failures: 1 }]);
  });

  it('close() ends an idle iteration without an error', async () => {
    const stream = new ShoalClient({ url: api.url, token: 't' }).events();
    await stream.connected();
    const done = (async () => {
      const got: StateEvent[] = [];
      for await (const e of stream) got.push(e);
      return got;
    })();
    stream.close();
    assert.deepEqual(await done, []);
  });

  it('connections that end without a new event count as failures: the stream gives up instead of looping', async () => {
    // a node that answers the stream and closes it at once, every time (what a replay overrun looked like)
    const lastIds: Array<string | undefined> = [];
    const srv = createHttpServer((req, res) => {
      lastIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(': connected\n\n');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const stream = new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't' }).events({
        lastEventId: '100',
        maxConsecutiveFailures: 3,
        initialRetryMs: 5,
      });
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            // nothing arrives
          }
        })(),
        (e: unknown) => e instanceof ShoalConnectionError && /gave up after 3/.test(e.message),
      );
      assert.deepEqual(lastIds, ['100', '100', '100']);
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('an `end` event moves the resume point: the next connection asks for what follows it', async () => {
    const lastIds: Array<string | undefined> = [];
    const srv = createHttpServer((req, res) => {
      lastIds.push(req.headers['last-event-id'] as string | undefined);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (lastIds.length === 1) {
        res.write(`id: 5\nevent: state\ndata: ${JSON.stringify(state('NEW'))}\n\n`);
        res.end('id: 5\nevent: end\ndata: {"reason":"slow","last_event_id":"5"}\n\n');
      } else res.write(`id: 6\nevent: state\ndata: ${JSON.stringify(state('ELECTED'))}\n\n`);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const stream = new ShoalClient({ url: `http://127.0.0.1:${port}`, token: 't' }).events({ lastEventId: '4', initialRetryMs: 5 });
      const got = await take(stream[Symbol.asyncIterator](), 2);
      stream.close();
      assert.deepEqual(
        got.map((e) => [e.id, e.status]),
        [
          ['5', 'NEW'],
          ['6', 'ELECTED'],
        ],
      );
      assert.deepEqual(lastIds, ['4', '5']);
    } finally {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
