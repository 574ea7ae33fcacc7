import http from 'node:http';
import type { MetaAccess, MetaHandler } from '../../../contract/index.js';

/**
 * A small MetaAccess for driver tests: listen() starts an HTTP server on host:port answering
 * `GET /meta/v1/data` with the metadata registered for the caller's source IP (404 otherwise).
 */
export class TestMeta implements MetaAccess {
  readonly address = '127.0.0.1:0';
  readonly #byIp = new Map<string, Record<string, unknown>>();
  readonly #byHw = new Map<string, Record<string, unknown>>();
  readonly #servers = new Set<http.Server>();
  /** host:port of every listener opened so far (closed ones removed) */
  readonly listening = new Set<string>();
  /** source addresses of requests that matched nothing */
  readonly rejected: string[] = [];

  register(hwaddr: string, ip: string, metadata: Record<string, unknown>): void {
    this.#byIp.set(ip, metadata);
    this.#byHw.set(hwaddr, metadata);
  }

  forget(ip: string): void {
    this.#byIp.delete(ip);
  }

  #answer(meta: Record<string, unknown> | undefined, req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/meta/v1/data' || !meta) {
      if (!meta) this.rejected.push(req.socket.remoteAddress ?? '?');
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":{"code":"NOT_FOUND","message":"no such resource"}}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(meta));
  }

  async listen(host: string, port: number): Promise<() => Promise<void>> {
    const server = http.createServer((req, res) => {
      const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
      this.#answer(this.#byIp.get(ip), req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.#servers.add(server);
    const key = `${host}:${port}`;
    this.listening.add(key);
    return async () => {
      this.#servers.delete(server);
      this.listening.delete(key);
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    };
  }

  handlerFor(hwaddr: string): MetaHandler {
    return (req, res) => this.#answer(this.#byHw.get(hwaddr), req, res);
  }

  async closeAll(): Promise<void> {
    for (const s of this.#servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    this.#servers.clear();
    this.listening.clear();
  }
}
