import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
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
  end(): this {
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

  it('drops a client that leaves more than maxBufferedBytes unread, and stops writing to it', () => {
    const res = new StuckResponse();
    const reasons: string[] = [];
    const s = new SseStream(res as unknown as ServerResponse, {
      heartbeatMs: 60_000,
      maxBufferedBytes: 4096,
      onClose: (r) => reasons.push(r),
    });
    let sent = 0;
    while (!s.closed && sent < 10_000) s.send(event(++sent));
    assert.ok(s.closed, 'the stream gave up on the slow client');
    assert.ok(sent < 100, `stopped after ${sent} events`);
    assert.ok(res.destroyed);
    assert.deepEqual(reasons, ['slow']);
    const written = res.chunks.length;
    s.send(event(99_999));
    assert.equal(res.chunks.length, written, 'nothing more is buffered');
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
    const res = Object.assign(new StuckResponse(), { req: { method: 'HEAD' }, ended: false });
    res.end = function (this: typeof res) {
      this.ended = true;
      return this;
    };
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
