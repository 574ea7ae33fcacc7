import type { ServerResponse } from 'node:http';
import type { StateEvent } from '../../../model/index.js';

export type SseCloseReason = 'client' | 'slow' | 'server';

export interface SseStreamOptions {
  /** a comment line is written this often so proxies and clients know the stream is alive */
  heartbeatMs: number;
  /**
   * bytes the client may leave unread: past this the stream reports itself full (the feed pauses),
   * and nothing but the closing `end` event is written
   */
  maxBufferedBytes: number;
  /** a full stream whose client reads nothing for this long is ended with an `end` event (default 30 s) */
  slowClientMs?: number;
  /** the id the client resumed after (the `end` event repeats it when nothing was sent since) */
  resumeId?: string;
  /** called once when the stream ends, whatever the reason */
  onClose: (reason: SseCloseReason) => void;
}

/** Pause feeding a stream once this much is buffered (less when maxBufferedBytes is smaller). */
const PAUSE_BYTES = 64 * 1024;
/** After the `end` event, a client that still reads nothing is disconnected after this long. */
const END_GRACE_MS = 10_000;

/**
 * One Server-Sent Events connection with flow control. The feed writes an event, then asks
 * `full()`; a full stream is fed again only after `drained()` resolves true (the socket took the
 * backlog), so a replay of any length never piles up in memory. A client that reads nothing for
 * `slowClientMs` while full gets a final `event: end` whose id is the last one it was sent — it
 * reconnects with that Last-Event-ID and loses nothing — and the response ends cleanly.
 */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #opts: SseStreamOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #pauseBytes: number;
  #closed = false;
  #lastSentId: string | undefined;
  #waiters: Array<(ok: boolean) => void> = [];
  #slowTimer: NodeJS.Timeout | undefined;

  constructor(res: ServerResponse, opts: SseStreamOptions) {
    this.#res = res;
    this.#opts = opts;
    this.#lastSentId = opts.resumeId;
    this.#pauseBytes = Math.min(PAUSE_BYTES, opts.maxBufferedBytes);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.#timer = setInterval(() => {
      if (!this.full()) this.#write(': ping\n\n');
    }, opts.heartbeatMs);
    this.#timer.unref();
    res.on('close', () => this.#finish('client'));
    // a write racing the client's disconnect must not become an unhandled 'error' event
    res.on('error', () => this.#finish('client'));
    res.on('drain', () => this.#drained());
    // onClose never runs inside the constructor: the caller has no handle on the stream yet
    if (res.destroyed || res.socket === null || res.socket.destroyed) {
      queueMicrotask(() => this.#finish('client'));
      return;
    }
    if (res.req?.method === 'HEAD') {
      // the head only: a HEAD must not hold a stream open that can never carry an event
      res.end();
      queueMicrotask(() => this.#finish('client'));
      return;
    }
    res.write('retry: 2000\n: connected\n\n');
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(event: StateEvent): void {
    const data = JSON.stringify({
      application_uid: event.application_uid,
      status: event.status,
      description: event.description,
      created_at: event.created_at,
    });
    const id = String(event.id).replace(/[\r\n]/g, '');
    if (this.#write(`id: ${id}\nevent: state\ndata: ${data}\n\n`)) this.#lastSentId = id;
  }

  /** More events now would only pile up: wait for drained(). A closed stream is full. */
  full(): boolean {
    return this.#closed || this.#res.writableLength > this.#pauseBytes;
  }

  /**
   * Resolves true when the stream can take events again, false when it ended (the client left,
   * the server closed it, or the client read nothing for slowClientMs and was sent `end`).
   */
  drained(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    if (!this.full()) return Promise.resolve(true);
    const p = new Promise<boolean>((resolve) => this.#waiters.push(resolve));
    if (!this.#slowTimer) {
      this.#slowTimer = setTimeout(() => this.#endSlow(), this.#opts.slowClientMs ?? 30_000);
      this.#slowTimer.unref();
    }
    return p;
  }

  /** Ends the stream from the server side (shutdown). */
  end(): void {
    if (this.#closed) return;
    this.#finish('server');
    this.#res.end();
  }

  #drained(): void {
    if (this.#closed || this.full()) return;
    if (this.#slowTimer) clearTimeout(this.#slowTimer);
    this.#slowTimer = undefined;
    for (const w of this.#waiters.splice(0)) w(true);
  }

  /** The client read nothing for slowClientMs: tell it where to resume, then end the response. */
  #endSlow(): void {
    this.#slowTimer = undefined;
    if (this.#closed) return;
    const idLine = this.#lastSentId !== undefined ? `id: ${this.#lastSentId}\n` : '';
    const data = JSON.stringify({
      reason: 'slow',
      last_event_id: this.#lastSentId ?? null,
      message: 'the client read too slowly; reconnect with Last-Event-ID to resume after last_event_id',
    });
    this.#finish('slow');
    this.#res.end(`${idLine}event: end\ndata: ${data}\n\n`);
    // a client that still reads nothing does not keep the connection forever
    const res = this.#res;
    setTimeout(() => {
      if (!res.writableFinished) res.destroy();
    }, END_GRACE_MS).unref();
  }

  /** Writes unless the stream ended; past maxBufferedBytes it ends with `end` instead. True when written. */
  #write(chunk: string): boolean {
    if (this.#closed) return false;
    if (this.#res.destroyed || this.#res.writableEnded) {
      this.#finish('client');
      return false;
    }
    if (this.#res.writableLength > this.#opts.maxBufferedBytes) {
      // fed past its bound (a writer ignored full()): end it rather than skip an event
      this.#endSlow();
      return false;
    }
    this.#res.write(chunk);
    return true;
  }

  #finish(reason: SseCloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#slowTimer) clearTimeout(this.#slowTimer);
    this.#slowTimer = undefined;
    for (const w of this.#waiters.splice(0)) w(false);
    this.#opts.onClose(reason);
  }
}
