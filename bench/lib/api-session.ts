// A keep-alive HTTP(S) session to one node plus its event stream, for benchmarks: requests reuse
// connections (like a real CI client would), and waiters resolve when the SSE stream shows a status.
// Not src/client's HttpTransport: that one opens a connection per request (agent: false) by design
// (a CLI run makes few requests); a benchmark needs pooled keep-alive sockets. SSE: the client's parser.
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { SseParser } from '../../src/client/sse-parser.js';
import type { StateEvent } from '../../src/model/index.js';

export interface Session {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** GET a text answer (e.g. a console) */
  text(path: string): Promise<string>;
  /** resolves with the event when `uid` reaches `status` (or rejects after timeoutMs) */
  waitFor(uid: string, status: string, timeoutMs?: number): Promise<StateEvent>;
  onEvent(fn: (e: StateEvent) => void): void;
  close(): void;
}

/** `events: false` opens no event stream (requests only; waitFor and onEvent then never see anything). */
export async function openSession(apiUrl: string, token: string, ca: string | undefined, maxSockets = 64, events = true): Promise<Session> {
  const url = new URL(apiUrl);
  const tls = url.protocol === 'https:';
  const agent = tls ? new HttpsAgent({ keepAlive: true, maxSockets, ca }) : new HttpAgent({ keepAlive: true, maxSockets });
  const doRequest = tls ? httpsRequest : httpRequest;
  const headers = { authorization: `Bearer ${token}` };

  function request<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = doRequest(
        new URL(path, url),
        { method, agent, headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) }, timeout: 30000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            if ((res.statusCode ?? 500) >= 300) reject(new Error(`${method} ${path} → ${res.statusCode}: ${text}`));
            else resolve((raw ? text : text ? JSON.parse(text) : undefined) as T);
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.end(data);
    });
  }

  const seen = new Map<string, Map<string, StateEvent>>();
  const waiters = new Map<string, Array<{ status: string; resolve: (e: StateEvent) => void }>>();
  const listeners: Array<(e: StateEvent) => void> = [];
  const parser = new SseParser({
    onMessage(m) {
      if (m.event !== 'state') return;
      // the id travels in the SSE block's id field, not in its data
      const e = { ...(JSON.parse(m.data) as Omit<StateEvent, 'id'>), id: m.id ?? '' };
      for (const l of listeners) l(e);
      let s = seen.get(e.application_uid);
      if (!s) seen.set(e.application_uid, (s = new Map<string, StateEvent>()));
      s.set(e.status, e);
      const ws = waiters.get(e.application_uid);
      if (ws) {
        for (const w of ws.filter((w) => w.status === e.status)) w.resolve(e);
        const rest = ws.filter((w) => w.status !== e.status);
        if (rest.length) waiters.set(e.application_uid, rest);
        else waiters.delete(e.application_uid);
      }
    },
  });
  const stream = !events
    ? undefined
    : await new Promise<IncomingMessage>((resolve, reject) => {
        const req = doRequest(
          new URL('/api/v1/events', url),
          { agent: tls ? new HttpsAgent({ ca }) : undefined, headers: { ...headers, accept: 'text/event-stream' } },
          (res) => {
            if (res.statusCode !== 200) reject(new Error(`events → ${res.statusCode}`));
            else resolve(res);
          },
        );
        req.on('error', reject);
        req.end();
      });
  stream?.on('data', (c: Buffer) => parser.feed(c));

  return {
    request: (method, path, body) => request(method, path, body),
    text: (path) => request<string>('GET', path, undefined, true),
    waitFor(uid, status, timeoutMs = 30000) {
      const hit = seen.get(uid)?.get(status);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${uid} did not reach ${status} within ${timeoutMs} ms`)), timeoutMs);
        const list = waiters.get(uid) ?? [];
        list.push({
          status,
          resolve: (e) => {
            clearTimeout(timer);
            resolve(e);
          },
        });
        waiters.set(uid, list);
      });
    },
    onEvent(fn) {
      listeners.push(fn);
    },
    close() {
      stream?.destroy();
      agent.destroy();
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(values: number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}
