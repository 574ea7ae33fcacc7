import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DEFAULT_CONNECTION_LIMITS,
  guardConnections,
  serverTimeouts,
  type ConnectionGuard,
  type ConnectionLimits,
} from '../connection-guard.js';
import { clientErrorHandler } from '../error-handler.js';
import { sourceAddress } from '../source-address.js';
import { createMetaHandler, type MetaHandlerOptions, type MetaSource } from './meta-handler.js';

export interface MetaServer {
  /** host:port it listens on (IPv6 hosts in brackets) */
  address: string;
  port: number;
  /** open connections and refusals over the caps */
  connections: ConnectionGuard;
  close(): Promise<void>;
}

export interface MetaServerOptions extends MetaHandlerOptions {
  /** caps and timeouts of this listener's connections (default DEFAULT_CONNECTION_LIMITS) */
  connections?: ConnectionLimits;
}

/**
 * A plain-HTTP Meta API listener that identifies each caller by its source address (the
 * resource's ipaddr). port 0 picks a free port. Its connections are capped in number (in all and
 * per client address) and dropped when they stay silent.
 */
export async function createMetaServer(
  core: MetaSource,
  listen: { host: string; port: number },
  options: MetaServerOptions = {},
): Promise<MetaServer> {
  const limits = options.connections ?? DEFAULT_CONNECTION_LIMITS;
  const handler = createMetaHandler(core, (req) => ({ kind: 'address', address: sourceAddress(req) }), options);
  // no Host needed (minimal HTTP clients in guests; nothing here depends on it): Node's own check would answer a bare 400
  const server = createServer({ ...serverTimeouts(limits), maxHeaderSize: 8192, requireHostHeader: false }, handler);
  server.setTimeout(limits.idleTimeoutMs);
  // malformed HTTP gets the one error shape (not Node's bare 400), and never a second answer
  server.on('clientError', clientErrorHandler);
  const connections = guardConnections(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // a listener error after start (e.g. EMFILE on accept) is logged, never thrown
  server.on('error', (err) => options.onError?.(err));
  const port = (server.address() as AddressInfo).port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    address: `${host}:${port}`,
    port,
    connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
