import type { IncomingMessage } from 'node:http';
import type { StateEvent } from '../model/index.js';
import { ShoalApiError, ShoalConnectionError } from './errors.js';
import type { HttpTransport, OpenStream } from './http-transport.js';
import { SseParser, type SseMessage } from './sse-parser.js';

export interface EventStreamOptions {
  /** Resume after this event id (sent as Last-Event-ID). */
  lastEventId?: string;
  /** Aborting it closes the stream; iteration then ends without an error. */
  signal?: AbortSignal;
  /** Called each time a connection is established (reconnect = false the first time). */
  onConnect?(info: { reconnect: boolean; lastEventId: string | undefined }): void;
  /**
   * Called when the connection drops (or a connection attempt fails) and a new attempt is
   * scheduled; `everConnected` is false while the first connection is still being tried, and
   * `failures` counts the failed attempts in a row.
   */
  onDisconnect?(info: { error: Error | undefined; delayMs: number; everConnected: boolean; failures: number }): void;
  /** Give up after this many failed connection attempts in a row. Default 30. */
  maxConsecutiveFailures?: number;
  /**
   * Give up after this many failed attempts before the FIRST connection (a node that is down
   * when the stream starts; unset: only maxConsecutiveFailures applies). A TLS failure before
   * the first connection ends the stream at once (retrying cannot fix a certificate).
   */
  maxInitialFailures?: number;
  /** First reconnection delay (ms); doubles per failure up to maxRetryMs. Default 250 / 10 000. */
  initialRetryMs?: number;
  maxRetryMs?: number;
}

const EVENTS_PATH = '/api/v1/events';
/** a connection that stayed up this long counts as healthy even without a new event */
const HEALTHY_CONNECTION_MS = 20_000;

/**
 * The state-change stream of GET /api/v1/events as an async iterable of StateEvent. It reconnects
 * when the connection drops (with Last-Event-ID, so nothing is lost or repeated) and stops on an
 * API error (e.g. 401), after too many failed attempts, or when closed.
 */
export class EventStream implements AsyncIterable<StateEvent> {
  readonly #transport: HttpTransport;
  readonly #options: EventStreamOptions;
  readonly #queue: StateEvent[] = [];
  #waiter: (() => void) | undefined;
  #failure: Error | undefined;
  #closed = false;
  #ended = false;
  #current: OpenStream | undefined;
  #abort = new AbortController();
  #lastEventId: string | undefined;
  #retryMs: number | undefined;
  #connected: Promise<void>;
  #resolveConnected!: () => void;
  #rejectConnected!: (err: Error) => void;

  constructor(transport: HttpTransport, options: EventStreamOptions = {}) {
    this.#transport = transport;
    this.#options = options;
    this.#lastEventId = options.lastEventId;
    this.#connected = new Promise<void>((resolve, reject) => {
      this.#resolveConnected = resolve;
      this.#rejectConnected = reject;
    });
    this.#connected.catch(() => undefined);
    if (options.signal !== undefined) {
      if (options.signal.aborted) this.close();
      else options.signal.addEventListener('abort', () => this.close(), { once: true });
    }
    void this.#run();
  }

  /** Id of the last event received: pass it as lastEventId to resume later. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Resolves once the first connection is established (the server answered 2xx). */
  connected(): Promise<void> {
    return this.#connected;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    this.#current?.close();
    this.#rejectConnected(new ShoalConnectionError('UNREACHABLE', 'event stream closed before it connected'));
    this.#wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StateEvent> {
    try {
      for (;;) {
        const next = this.#queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.#failure !== undefined) throw this.#failure;
        if (this.#closed || this.#ended) return;
        await new Promise<void>((resolve) => (this.#waiter = resolve));
      }
    } finally {
      this.close();
    }
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async #run(): Promise<void> {
    const maxFailures = this.#options.maxConsecutiveFailures ?? 30;
    const maxInitial = this.#options.maxInitialFailures;
    const initial = this.#options.initialRetryMs ?? 250;
    const max = this.#options.maxRetryMs ?? 10_000;
    let failures = 0;
    let everConnected = false;
    while (!this.#closed) {
      let error: Error | undefined;
      try {
        const headers: Record<string, string> = {};
        if (this.#lastEventId !== undefined) headers['last-event-id'] = this.#lastEventId;
        const stream = await this.#transport.openStream(EVENTS_PATH, headers, this.#abort.signal);
        this.#current = stream;
        if (this.#closed) {
          stream.close();
          break;
        }
        this.#options.onConnect?.({ reconnect: everConnected, lastEventId: this.#lastEventId });
        everConnected = true;
        this.#resolveConnected();
        const before = this.#lastEventId;
        const openedAt = Date.now();
        await this.#consume(stream.response);
        // a connection that moved the stream on (or stayed up a while) was healthy; one that ended
        // without a new event counts as a failure, so an endless cycle of empty connections gives up
        failures = this.#lastEventId !== before || Date.now() - openedAt >= HEALTHY_CONNECTION_MS ? 0 : failures + 1;
      } catch (err) {
        if (this.#closed) break;
        if (err instanceof ShoalApiError && err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
          this.#fail(err);
          return;
        }
        if (!everConnected && err instanceof ShoalConnectionError && err.code === 'TLS') {
          this.#fail(err);
          return;
        }
        error = err instanceof Error ? err : new Error(String(err));
        failures += 1;
      } finally {
        this.#current = undefined;
      }
      if (this.#closed) break;
      if (maxInitial !== undefined && !everConnected && failures >= maxInitial) {
        this.#fail(
          new ShoalConnectionError(
            'UNREACHABLE',
            `could not open the event stream (${failures} attempt${failures === 1 ? '' : 's'})${error ? `: ${error.message}` : ''}`,
          ),
        );
        return;
      }
      if (failures >= maxFailures) {
        this.#fail(
          new ShoalConnectionError(
            'UNREACHABLE',
            `event stream: gave up after ${failures} failed connection attempts${error ? `: ${error.message}` : ''}`,
          ),
        );
        return;
      }
      const delayMs = Math.min(max, (this.#retryMs ?? initial) * 2 ** Math.max(0, failures - 1));
      this.#options.onDisconnect?.({ error, delayMs, everConnected, failures });
      await sleep(delayMs, this.#abort.signal);
    }
    this.#ended = true;
    this.#wake();
  }

  #fail(err: Error): void {
    this.#failure = err;
    this.#ended = true;
    this.#rejectConnected(err);
    this.#wake();
  }

  /** Reads one connection until it ends. */
  #consume(response: IncomingMessage): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const parser = new SseParser(
        {
          onMessage: (m) => this.#message(m),
          onRetry: (ms) => (this.#retryMs = ms),
        },
        this.#lastEventId,
      );
      response.on('data', (chunk: Buffer) => parser.feed(chunk));
      response.on('end', () => resolve());
      response.on('close', () => resolve());
      response.on('error', (err) => reject(err));
    });
  }

  #message(m: SseMessage): void {
    // the server ends a stream whose client fell too far behind: resume after the id it names
    if (m.event === 'end') {
      if (m.id !== undefined) this.#lastEventId = m.id;
      return;
    }
    if (m.event !== 'state' && m.event !== 'message') return;
    if (m.id !== undefined) this.#lastEventId = m.id;
    let data: unknown;
    try {
      data = JSON.parse(m.data);
    } catch {
      return; // not a state event this client understands: skip it (its id still counts for resume)
    }
    if (typeof data !== 'object' || data === null) return;
    const event = { ...(data as Record<string, unknown>) } as StateEvent;
    if (typeof event.id !== 'string' || event.id === '') {
      if (m.id === undefined) return;
      event.id = m.id;
    }
    if (m.id === undefined) this.#lastEventId = event.id;
    this.#queue.push(event);
    this.#wake();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
