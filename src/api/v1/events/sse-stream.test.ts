import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { SseStream } from './sse-stream.js';

/** A response whose client never reads: everything written stays buffered. */
class StuckResponse extends EventEmitter {
  chunks: string[] = [];
  writableLength = 0;
  destroyed = false;
  socket = { destroyed: false };
  status = 0;
  writeHead(status: number): this {
    this.status = status;
    return this;
  }
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    this.writableLength += Buffer.byteLength(chunk);
    return false;
  }
  ended = false;
  end(chunk?: string): this {
    if (chunk !== undefined) this.chunks.push(chunk);
    this.ended = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    this.emit('close');
    return this;
  }
}

const event = (id: number) => ({
  id: String(id),
  application_uid: '6f1c1b2e-8a7b-4c1d-9e2f-0a1b2c3d4e5f',
  status: 'ALLOCATED' as const,
  description: 'line one\nline two',
  created_at: '2025-01-01T00:00:00.000Z',
});

describe('SseStream', () => {
  // the stream's own timers are unref'd (a stream never keeps a node alive); with no server in this
  // process, something must keep the event loop running while a test awaits them
  let keepAlive: NodeJS.Timeout | undefined;
  before(() => {
    keepAlive = setInterval(() => {}, 1_000);
  });
  after(() => clearInterval(keepAlive));

  it('writes one SSE block per event, data as one JSON line', () => {
    const res = new StuckResponse();
    const s = new SseStream(res as unknown as ServerResponse, { heartbeatMs: 60_000, maxBufferedBytes: 1 << 20, onClose: () => {} });
    s.send(event(7));
    assert.equal(res.status, 200);
    assert.equal(
      res.chunks.at(-1),
      'id: 7\nevent: state\ndata: {"application_uid":"6f1c1b2e-8a7b-4c1d-9e2f-0a1b2c3d4e5f","status":"ALLOCATED","description":"line one\\nline two","created_at":"2025-01-01T00:00:00.000Z"}\n\n',
    );
    s.end();
  });

  it('reports itself full past the pause mark; a client that reads nothing gets `end` naming the last id sent', async () => {
    const res = new StuckResponse();
    const reasons: string[] = [];
    const s = new SseStream(res as unknown as ServerResponse, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 4096,
      slowClientMs: 20,
      onClose: (r) => reasons.push(r),
    });
    let sent = 0;
    while (!s.full() && sent < 10_000) s.send(event(++sent));
    assert.ok(sent > 1 && sent < 100, `full after ${sent} events`);
    assert.ok(!s.closed, 'full is not closed: the feed waits for drained()');
    assert.equal(await s.drained(), false, 'the client read nothing: drained() gives up');
    assert.ok(s.closed);
    assert.deepEqual(reasons, ['slow']);
    assert.ok(res.ended, 'the response is ended, not destroyed');
    assert.equal(res.destroyed, false);
    const last = res.chunks.at(-1) ?? '';
    assert.match(last, new RegExp(`^id: ${sent}\nevent: end\ndata: `));
    const data = JSON.parse(last.split('data: ')[1] ?? '') as { reason: string; last_event_id: string };
    assert.equal(data.reason, 'slow');
    assert.equal(data.last_event_id, String(sent));
    const written = res.chunks.length;
    s.send(event(99_999));
    assert.equal(res.chunks.length, written, 'nothing more is written');
  });

  it('drained() resolves true once the socket takes the backlog', async () => {
    const res = new StuckResponse();
    const s = new SseStream(res as unknown as ServerResponse, { heartbeatMs: 60_000, maxBufferedBytes: 4096, onClose: () => {} });
    while (!s.full()) s.send(event(1));
    const d = s.drained();
    res.writableLength = 0;
    res.emit('drain');
    assert.equal(await d, true);
    assert.equal(s.full(), false);
    s.end();
  });

  it('a writer that ignores full() past maxBufferedBytes ends the stream instead of skipping an event', () => {
    const res = new StuckResponse();
    const reasons: string[] = [];
    const s = new SseStream(res as unknown as ServerResponse, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 4096,
      onClose: (r) => reasons.push(r),
    });
    let sent = 0;
    while (!s.closed && sent < 10_000) s.send(event(++sent));
    assert.ok(sent < 100, `stopped after ${sent} events`);
    assert.deepEqual(reasons, ['slow']);
    // the end event names the last event written, not the one refused
    assert.match(res.chunks.at(-1) ?? '', new RegExp(`^id: ${sent - 1}\nevent: end\n`));
  });

  it('reports a client that is already gone once, after the constructor returned (onClose may use the stream)', async () => {
    const res = new StuckResponse();
    res.socket.destroyed = true;
    const seen: Array<{ reason: string; closed: boolean }> = [];
    // like the events route: onClose refers to the stream being constructed
    const s: SseStream = new SseStream(res as unknown as ServerResponse, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 4096,
      onClose: (reason) => seen.push({ reason, closed: s.closed }),
    });
    assert.deepEqual(seen, [], 'not called from inside the constructor');
    await Promise.resolve();
    assert.deepEqual(seen, [{ reason: 'client', closed: true }]);
    assert.ok(s.closed);
    assert.deepEqual(res.chunks, [], 'nothing written to a gone client');
  });

  it('answers HEAD with the head only and closes at once', async () => {
    const res = Object.assign(new StuckResponse(), { req: { method: 'HEAD' } });
    const reasons: string[] = [];
    const s: SseStream = new SseStream(res as unknown as ServerResponse, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 4096,
      onClose: (r) => reasons.push(r),
    });
    assert.equal(res.status, 200);
    assert.ok(res.ended, 'the response is ended');
    assert.deepEqual(res.chunks, [], 'no body for HEAD');
    await Promise.resolve();
    assert.ok(s.closed);
    assert.deepEqual(reasons, ['client']);
    s.send(event(1));
    assert.deepEqual(res.chunks, [], 'nothing written after the close');
  });
});
