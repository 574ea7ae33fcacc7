/**
 * A small QMP (QEMU Machine Protocol) client over a unix socket: reads the greeting, negotiates
 * capabilities, runs commands tagged with ids (answers matched by id, each with a timeout) and
 * delivers asynchronous events. One connection per client; QEMU serves one client per socket at
 * a time, so callers connect for an operation and close afterwards.
 */
import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package: string };
  capabilities: string[];
}

/** A QMP command answered with an error, or a protocol failure (closed socket, timeout). */
export class QmpError extends Error {
  /** QMP error class ("GenericError", "CommandNotFound"…), or "Timeout" / "Closed" / "Protocol" */
  readonly errorClass: string;

  constructor(errorClass: string, message: string) {
    super(message);
    this.name = 'QmpError';
    this.errorClass = errorClass;
  }
}

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const MAX_LINE = 16 * 1024 * 1024;

export class QmpClient {
  readonly greeting: QmpGreeting;
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #events = new EventEmitter();
  readonly #seen: QmpEvent[] = [];
  #nextId = 1;
  #closed = false;

  #buf = '';

  private constructor(socket: Socket, greeting: QmpGreeting, rest: string) {
    this.#socket = socket;
    this.greeting = greeting;
    socket.on('data', (chunk: string) => this.#feed(chunk));
    socket.on('close', () => this.#fail(new QmpError('Closed', 'QMP connection closed')));
    socket.on('error', (err) => this.#fail(new QmpError('Closed', `QMP connection failed: ${err.message}`)));
    this.#feed(rest);
    socket.resume();
  }

  #feed(text: string): void {
    this.#buf += text;
    if (this.#buf.length > MAX_LINE) {
      this.#fail(new QmpError('Protocol', 'QMP message too large'));
      return;
    }
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl).trim();
      this.#buf = this.#buf.slice(nl + 1);
      if (line) this.#onLine(line);
    }
  }

  /** Connect, read the greeting and enter command mode (qmp_capabilities). */
  static async connect(path: string, opts: { timeoutMs?: number } = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const { socket, greeting, rest } = await new Promise<{ socket: Socket; greeting: QmpGreeting; rest: string }>((resolve, reject) => {
      const socket = connect({ path });
      socket.setEncoding('utf8');
      let buf = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new QmpError('Timeout', `no QMP greeting on ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      const onData = (chunk: string): void => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl < 0) {
          if (buf.length > MAX_LINE) onError(new Error('greeting too large'));
          return;
        }
        const line = buf.slice(0, nl);
        clearTimeout(timer);
        socket.pause();
        socket.off('data', onData);
        socket.off('error', onError);
        socket.removeAllListeners('close');
        try {
          const msg = JSON.parse(line) as { QMP?: QmpGreeting };
          if (!msg.QMP) throw new Error(`not a QMP greeting: ${line.slice(0, 200)}`);
          resolve({ socket, greeting: msg.QMP, rest: buf.slice(nl + 1) });
        } catch (err) {
          socket.destroy();
          reject(new QmpError('Protocol', (err as Error).message));
        }
      };
      const onError = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(new QmpError('Closed', `cannot connect to QMP socket ${path}: ${err.message}`));
      };
      socket.on('data', onData);
      socket.on('error', onError);
      socket.on('close', () => onError(new Error('closed before the greeting')));
    });
    const client = new QmpClient(socket, greeting, rest);
    try {
      await client.execute('qmp_capabilities', undefined, { timeoutMs });
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Run a command; resolves to its `return` value, rejects with QmpError on error or timeout. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new QmpError('Closed', `QMP connection closed (before ${command})`));
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const id = `shoal-${this.#nextId++}`;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new QmpError('Timeout', `QMP ${command} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { command, resolve, reject, timer });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.#socket.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /** Listen to every event. */
  onEvent(listener: (ev: QmpEvent) => void): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  /**
   * Resolve with the first event named `name` (also one already received on this connection, so a
   * fast event is not missed), or reject after `timeoutMs`.
   */
  waitEvent(name: string, timeoutMs: number, match: (ev: QmpEvent) => boolean = () => true): Promise<QmpEvent> {
    const already = this.#seen.find((e) => e.event === name && match(e));
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        offClose();
        reject(new QmpError('Timeout', `no QMP event ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((ev) => {
        if (ev.event === name && match(ev)) {
          clearTimeout(timer);
          off();
          offClose();
          resolve(ev);
        }
      });
      const onClose = (err: Error): void => {
        clearTimeout(timer);
        off();
        reject(err);
      };
      this.#events.once('closed', onClose);
      const offClose = (): void => {
        this.#events.off('closed', onClose);
      };
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#socket.destroy();
    this.#fail(new QmpError('Closed', 'QMP connection closed'));
  }

  #onLine(line: string): void {
    let msg: { id?: unknown; return?: unknown; error?: { class?: string; desc?: string }; event?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return; // not JSON: ignore (QMP only sends JSON lines)
    }
    if (typeof msg.event === 'string') {
      const ev = msg as QmpEvent;
      if (this.#seen.length < 256) this.#seen.push(ev);
      this.#events.emit('event', ev);
      return;
    }
    if (typeof msg.id !== 'string') return;
    const p = this.#pending.get(msg.id);
    if (!p) return;
    this.#pending.delete(msg.id);
    clearTimeout(p.timer);
    if (msg.error) {
      p.reject(new QmpError(msg.error.class ?? 'GenericError', `QMP ${p.command}: ${msg.error.desc ?? 'error'}`));
    } else {
      p.resolve(msg.return);
    }
  }

  #fail(err: QmpError): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(id);
      p.reject(new QmpError(err.errorClass, `${err.message} (during ${p.command})`));
    }
    this.#events.emit('closed', err);
    this.#socket.destroy();
  }
}

/** Connect, run `fn`, always close. */
export async function withQmp<T>(path: string, fn: (qmp: QmpClient) => Promise<T>, opts: { timeoutMs?: number } = {}): Promise<T> {
  const qmp = await QmpClient.connect(path, opts);
  try {
    return await fn(qmp);
  } finally {
    qmp.close();
  }
}
