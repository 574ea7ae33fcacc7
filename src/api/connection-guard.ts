import type { Server as NetServer, Socket } from 'node:net';

/**
 * Bounds of one listener's connections (the API's and every Meta API listener), so idle or slow
 * clients cannot use up the node's file descriptors: sockets over a cap are closed the moment
 * they are accepted, and sockets that send no complete request in time are dropped.
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
  server.maxConnections = limits.max + 1; // our own check below answers first; this is Node's backstop
  // header deadlines by the peer's address:port (the same for a TLS socket and its TCP socket)
  const pending = new Map<string, NodeJS.Timeout>();
  const peer = (s: Socket): string => `${s.remoteAddress ?? ''}|${s.remotePort ?? ''}`;

  server.prependListener('connection', (socket: Socket) => {
    const address = plain(socket.remoteAddress);
    const mine = byAddress.get(address) ?? 0;
    if (open >= limits.max || mine >= limits.perAddress) {
      refused++;
      socket.destroy();
      return;
    }
    open++;
    byAddress.set(address, mine + 1);
    const key = peer(socket);
    socket.once('close', () => {
      open--;
      const n = (byAddress.get(address) ?? 1) - 1;
      if (n <= 0) byAddress.delete(address);
      else byAddress.set(address, n);
      const t = pending.get(key);
      if (t) clearTimeout(t);
      pending.delete(key);
    });
    if (limits.headerTimeoutMs > 0) {
      const t = setTimeout(() => {
        pending.delete(key);
        socket.destroy();
      }, limits.headerTimeoutMs);
      t.unref();
      pending.set(key, t);
    }
  });

  // the first request's headers arrived: the header deadline is met (later requests on a
  // keep-alive connection are bounded by the server's headersTimeout and keepAliveTimeout)
  const seen = (req: { socket: Socket | null }): void => {
    if (req.socket === null) return;
    const key = peer(req.socket);
    const t = pending.get(key);
    if (t) {
      clearTimeout(t);
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
