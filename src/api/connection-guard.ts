import type { Server as NetServer, Socket } from 'node:net';

/**
 * Bounds of one listener's connections (the API's and every Meta API listener), so idle or slow
 * clients cannot use up the node's file descriptors: a socket over its address's cap is closed the
 * moment it is accepted; at the listener's cap the oldest connection that has sent no request yet
 * makes room (else the new one is closed); sockets that send no complete request in time are dropped.
 */
export interface ConnectionLimits {
  /** open connections on this listener */
  max: number;
  /** open connections from one client address on this listener */
  perAddress: number;
  /** a connection must deliver its first request's headers within this time (ms), or it is closed */
  headerTimeoutMs: number;
  /** a connection with no traffic at all for this long (ms) is closed (event streams excepted) */
  idleTimeoutMs: number;
  /** an idle keep-alive connection is closed after this long (ms) */
  keepAliveMs: number;
  /** HTTPS: the TLS handshake must finish within this time (ms) */
  tlsHandshakeMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: Readonly<ConnectionLimits> = Object.freeze({
  max: 4096,
  perAddress: 128,
  headerTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  keepAliveMs: 5_000,
  tlsHandshakeMs: 10_000,
});

export interface ConnectionGuard {
  /** open connections now (for tests and metrics) */
  readonly open: number;
  /** connections refused over a cap since start */
  readonly refused: number;
}

function plain(address: string | undefined): string {
  const a = address ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/**
 * Installs the caps on `server` (a node:net, http or https server, before or after listen). It
 * hooks the raw TCP 'connection' event, so for HTTPS the caps and the header deadline apply before
 * any TLS work is done. `requestSeen(socket)` must be called when a request's headers arrived on
 * the socket (the http servers' 'request' event does that here).
 */
export function guardConnections(server: NetServer, limits: ConnectionLimits): ConnectionGuard {
  const byAddress = new Map<string, number>();
  let open = 0;
  let refused = 0;
  // Node's own cap as a backstop only (it would refuse instead of evicting): ours answers first
  server.maxConnections = limits.max + 64;
  // connections that have not delivered a request yet, oldest first, by peer address:port (the
  // same for a TLS socket and its TCP socket)
  const pending = new Map<string, { socket: Socket; timer: NodeJS.Timeout | undefined }>();
  const released = new WeakSet<Socket>();
  const peer = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

  const release = (socket: Socket, address: string, key: string): void => {
    if (released.has(socket)) return;
    released.add(socket);
    open--;
    const n = (byAddress.get(address) ?? 1) - 1;
    if (n <= 0) byAddress.delete(address);
    else byAddress.set(address, n);
    const p = pending.get(key);
    if (p !== undefined && p.socket === socket) {
      if (p.timer) clearTimeout(p.timer);
      pending.delete(key);
    }
  };

  server.prependListener('connection', (socket: Socket) => {
    const address = plain(socket.remoteAddress);
    const mine = byAddress.get(address) ?? 0;
    if (mine >= limits.perAddress) {
      refused++;
      socket.destroy();
      return;
    }
    if (open >= limits.max) {
      // full: make room by dropping the oldest connection that has sent nothing yet (an idle
      // flood churns through itself; a client that sends its request at once keeps its place)
      const oldest = pending.values().next().value;
      if (oldest === undefined) {
        refused++;
        socket.destroy();
        return;
      }
      refused++;
      oldest.socket.destroy();
      oldest.socket.emit('shoal:evicted');
    }
    open++;
    byAddress.set(address, mine + 1);
    const key = peer(socket);
    const done = (): void => release(socket, address, key);
    socket.once('close', done);
    socket.once('shoal:evicted', done);
    const timer =
      limits.headerTimeoutMs > 0
        ? setTimeout(() => {
            pending.delete(key);
            socket.destroy();
          }, limits.headerTimeoutMs)
        : undefined;
    timer?.unref();
    pending.set(key, { socket, timer });
  });

  // the first request's headers arrived: the header deadline is met and the connection is no
  // longer evictable (later requests on a keep-alive connection are bounded by the server's
  // headersTimeout and keepAliveTimeout)
  const seen = (req: { socket: Socket | null }): void => {
    if (req.socket === null) return;
    const key = peer(req.socket);
    const p = pending.get(key);
    if (p !== undefined) {
      if (p.timer) clearTimeout(p.timer);
      pending.delete(key);
    }
  };
  server.prependListener('request', seen);

  return {
    get open() {
      return open;
    },
    get refused() {
      return refused;
    },
  };
}

/**
 * Options for http.createServer / https.createServer that go with the caps: Node's own header,
 * request and keep-alive timeouts, checked every second (slow-header clients are dropped promptly).
 */
export function serverTimeouts(limits: ConnectionLimits): {
  headersTimeout: number;
  requestTimeout: number;
  keepAliveTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: limits.headerTimeoutMs,
    requestTimeout: Math.max(limits.headerTimeoutMs, 30_000),
    keepAliveTimeout: limits.keepAliveMs,
    connectionsCheckingInterval: 1_000,
  };
}
