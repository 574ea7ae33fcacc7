import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * A minimal HTTP/1.1 client on a raw socket, for tests that must control every byte of a request
 * (odd header values, duplicate headers, chunked bodies, a chosen source address) — things
 * node:http refuses to send. One request per connection (`Connection: close`).
 */

export interface RawRequest {
  method: string;
  /** request target exactly as sent (already percent-encoded, or deliberately not) */
  target: string;
  /** header lines in order; duplicates allowed; values are sent as latin1 bytes */
  headers: Array<[string, string]>;
  body?: Buffer;
  /** send the body with Transfer-Encoding: chunked instead of Content-Length */
  chunked?: boolean;
  /** send exactly these bytes instead (a malformed request); method, target and headers are ignored */
  bodyOnly?: Buffer;
}

export interface RawTarget {
  host: string;
  port: number;
  /** PEM CA: connect with TLS */
  ca?: string;
  /** source address to bind (any 127/8 address works on Linux) */
  localAddress?: string;
  /** the whole exchange must finish within this (default 15 s) */
  timeoutMs?: number;
  /** read at most this many body bytes, then stop (default 4 MiB) */
  maxBodyBytes?: number;
  /** end our side after the request (the server sees EOF instead of waiting for more bytes) */
  halfClose?: boolean;
  /** end our side only once the first answer is complete, then read until the server closes (catches a second answer) */
  endAfterAnswer?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** the body was a stream (text/event-stream) and the read stopped after the headers */
  streamed: boolean;
  /** bytes the server sent after the answer's Content-Length (a second answer to one request) */
  trailing?: Buffer;
}

/** The exact bytes of a request (request line, headers, body framing). */
export function encodeRequest(req: RawRequest): Buffer {
  if (req.bodyOnly !== undefined) return req.bodyOnly;
  const lines = [`${req.method} ${req.target} HTTP/1.1`];
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  const parts: Buffer[] = [];
  const body = req.body;
  if (body !== undefined) {
    if (req.chunked) lines.push('Transfer-Encoding: chunked');
    else lines.push(`Content-Length: ${body.length}`);
  }
  parts.push(Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'));
  if (body !== undefined) {
    if (req.chunked) {
      const size = 16 * 1024;
      for (let i = 0; i < body.length; i += size) {
        const piece = body.subarray(i, i + size);
        parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`, 'latin1'), piece, Buffer.from('\r\n', 'latin1'));
      }
      parts.push(Buffer.from('0\r\n\r\n', 'latin1'));
    } else {
      parts.push(body);
    }
  }
  return Buffer.concat(parts);
}

function decodeChunked(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  for (let i = 0; i < 1_000_000 && pos < data.length; i++) {
    const eol = data.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) break;
    const size = Number.parseInt(data.subarray(pos, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isFinite(size) || size === 0) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

interface Head {
  status: number;
  headers: Record<string, string>;
  bodyStart: number;
}

/** The final answer's head (interim 1xx heads, e.g. 100 Continue, are skipped); null until complete. */
function parseHead(data: Buffer): Head | null {
  let start = 0;
  for (let i = 0; i < 10; i++) {
    const end = data.indexOf('\r\n\r\n', start, 'latin1');
    if (end < 0) return null;
    const lines = data.subarray(start, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (m === null) throw new Error(`not an HTTP response: ${JSON.stringify((lines[0] ?? '').slice(0, 100))}`);
    const status = Number(m[1]);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    return { status, headers, bodyStart: end + 4 };
  }
  throw new Error('more than 10 interim answers');
}

/** Sends one request and reads the whole answer (or only its head, for an event stream). */
export function sendRaw(target: RawTarget, req: RawRequest): Promise<RawResponse> {
  const bytes = encodeRequest(req);
  const maxBody = target.maxBodyBytes ?? 4 * 1024 * 1024;
  const timeoutMs = target.timeoutMs ?? 15_000;
  return new Promise<RawResponse>((resolve, reject) => {
    const opts = { host: target.host, port: target.port, localAddress: target.localAddress };
    const socket: Socket = target.ca !== undefined ? tlsConnect({ ...opts, ca: target.ca }) : netConnect(opts);
    const chunks: Buffer[] = [];
    let received = 0;
    let head: Head | null = null;
    let settled = false;
    let endedOurSide = false;
    const finish = (err: Error | null, res?: RawResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(res as RawResponse);
    };
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${timeoutMs} ms`)), timeoutMs);
    const complete = (): void => {
      const data = Buffer.concat(chunks);
      if (head === null) {
        finish(new Error(data.length === 0 ? 'connection closed without an answer' : `connection closed in the middle of the answer head`));
        return;
      }
      let body: Buffer = data.subarray(head.bodyStart);
      let trailing: Buffer | undefined;
      const cl = head.headers['content-length'];
      if ((head.headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) body = decodeChunked(body);
      else if (cl !== undefined && body.length > Number(cl)) {
        trailing = body.subarray(Number(cl));
        body = body.subarray(0, Number(cl));
      }
      finish(null, { status: head.status, headers: head.headers, body, streamed: false, trailing });
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      received += d.length;
      if (head === null) {
        try {
          head = parseHead(Buffer.concat(chunks));
        } catch (err) {
          finish(err as Error);
          return;
        }
        if (head !== null && req.method === 'HEAD') {
          finish(null, { status: head.status, headers: head.headers, body: Buffer.alloc(0), streamed: false });
          return;
        }
        if (head !== null && (head.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          finish(null, { status: head.status, headers: head.headers, body: Buffer.alloc(0), streamed: true });
          return;
        }
      }
      if (head !== null) {
        const cl = head.headers['content-length'];
        const done = cl !== undefined && received - head.bodyStart >= Number(cl);
        if (done && target.endAfterAnswer) {
          if (!endedOurSide) {
            endedOurSide = true;
            socket.end();
          }
        } else if (done) complete();
        else if (received - head.bodyStart > maxBody) complete();
      }
    });
    socket.on('end', complete);
    socket.on('close', complete);
    socket.on('error', (err) => {
      // the server may answer (e.g. 413) and close before the whole body was written: keep the answer
      if (head !== null) complete();
      else finish(err);
    });
    if (target.halfClose) socket.end(bytes);
    else socket.write(bytes);
  });
}
