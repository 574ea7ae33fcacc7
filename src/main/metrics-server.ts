import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { guardConnections, serverTimeouts, type ConnectionLimits } from '../api/connection-guard.js';
import { parseHostPort } from './config.js';

export interface MetricsServer {
  address: string;
  close(): Promise<void>;
}

/**
 * `metrics.listen`: Prometheus metrics without credentials on a listener of their own (bind it to
 * an address only the scraper reaches). Only `GET /metrics`; anything else → 404.
 */
export async function startMetricsServer(listen: string, registry: Registry, limits: ConnectionLimits): Promise<MetricsServer> {
  const { host, port } = parseHostPort(listen, 'metrics.listen');
  const server = createServer({ ...serverTimeouts(limits) }, (req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || path !== '/metrics') {
      res
        .writeHead(404, { 'content-type': 'application/json; charset=utf-8' })
        .end('{"error":{"code":"NOT_FOUND","message":"only GET /metrics here"}}');
      return;
    }
    registry.metrics().then(
      (text) => {
        res
          .writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' })
          .end(req.method === 'HEAD' ? undefined : text);
      },
      () => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end('{"error":{"code":"INTERNAL","message":"metrics failed"}}');
      },
    );
  });
  server.setTimeout(limits.idleTimeoutMs);
  guardConnections(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const bound = (server.address() as AddressInfo).port;
  return {
    address: `${host.includes(':') ? `[${host}]` : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
