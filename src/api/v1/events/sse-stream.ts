import type { ServerResponse } from 'node:http';
import type { StateEvent } from '../../../model/index.js';

export interface SseStreamOptions {
  /** a comment line is written this often so proxies and clients know the stream is alive */
  heartbeatMs: number;
  /** a client that lets more than this many bytes pile up unread is disconnected (it resumes with Last-Event-ID) */
  maxBufferedBytes: number;
  /** called once when the stream ends, whatever the reason */
  onClose: (reason: 'client' | 'slow' | 'server') => void;
}

/**
 * One Server-Sent Events connection. Writes never pile up without bound: when the socket's
 * buffer passes `maxBufferedBytes` the connection is dropped and the client resumes from the
 * store with Last-Event-ID, instead of the node holding its backlog in memory.
 */
export class SseStream {
  readonly #res: ServerResponse;
  readonly #opts: SseStreamOptions;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(res: ServerResponse, opts: SseStreamOptions) {
    this.#res = res;
    this.#opts = opts;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.#timer = setInterval(() => this.#write(': ping\n\n'), opts.heartbeatMs);
    this.#timer.unref();
    res.on('close', () => this.#finish('client'));
    // a write racing the client's disconnect must not become an unhandled 'error' event
    res.on('error', () => this.#finish('client'));
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
    this.#write(`id: ${String(event.id).replace(/[\r\n]/g, '')}\nevent: state\ndata: ${data}\n\n`);
  }

  /** Ends the stream from the server side (shutdown). */
  end(): void {
    if (this.#closed) return;
    this.#finish('server');
    this.#res.end();
  }

  #write(chunk: string): void {
    if (this.#closed) return;
    if (this.#res.destroyed || this.#res.writableEnded) {
      this.#finish('client');
      return;
    }
    this.#res.write(chunk);
    if (this.#res.writableLength > this.#opts.maxBufferedBytes) {
      this.#finish('slow');
      this.#res.destroy();
    }
  }

  #finish(reason: 'client' | 'slow' | 'server'): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#opts.onClose(reason);
  }
}
