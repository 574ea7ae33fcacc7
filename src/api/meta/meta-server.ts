import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sourceAddress } from '../source-address.js';
import { createMetaHandler, type MetaHandlerOptions, type MetaSource } from './meta-handler.js';

export interface MetaServer {
  /** host:port it listens on (IPv6 hosts in brackets) */
  address: string;
  port: number;
  close(): Promise<void>;
}

/**
 * A plain-HTTP Meta API listener that identifies each caller by its source address (the
 * resource's ipaddr). port 0 picks a free port.
 */
export async function createMetaServer(
  core: MetaSource,
  listen: { host: string; port: number },
  options: MetaHandlerOptions = {},
): Promise<MetaServer> {
  const handler = createMetaHandler(core, (req) => ({ kind: 'address', address: sourceAddress(req) }), options);
  const server = createServer({ keepAliveTimeout: 5_000, requestTimeout: 10_000, headersTimeout: 10_000, maxHeaderSize: 8192 }, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    address: `${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
