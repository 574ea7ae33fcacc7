/**
 * A VM's own Meta API channel: an HTTP server in the node process, listening on the host end of the
 * VM's veth pair (host-net.ts), that answers as that VM only (`ctx.meta.handlerFor(hwaddr)`).
 * Inside the VM's network namespace the guest-visible Meta API address is DNATed here; slirp opens
 * the connection from the namespace's own address, so a connection from any other source (another
 * VM, a local process) is refused. Nothing the guest does (changing its MAC or IP) changes that
 * address, and no process is started per connection: the node relays nothing, it answers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { DriverLogger, MetaHandler } from '../../contract/index.js';

/** Per-VM limits so a guest cannot hold many connections or keep them idle. */
const MAX_CONNECTIONS = 8;
const IDLE_TIMEOUT_MS = 15_000;

export class MetaChannel {
  readonly host: string;
  readonly port: number;
  readonly #server: Server;
  #requests = 0;
  #onFirst: (() => void) | undefined;

  private constructor(host: string, port: number, server: Server) {
    this.host = host;
    this.port = port;
    this.#server = server;
  }

  /**
   * Listen on `host` (a free port is chosen) and answer only connections from `peer`, the VM's
   * namespace address.
   */
  static async open(host: string, peer: string, handler: MetaHandler, log: DriverLogger): Promise<MetaChannel> {
    let channel: MetaChannel | undefined;
    const server = createServer((req, res) => {
      if (channel) channel.#seen();
      try {
        handler(req, res);
      } catch (err) {
        log.error({ err: (err as Error).message }, 'meta handler failed');
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      }
    });
    server.maxConnections = MAX_CONNECTIONS;
    server.keepAliveTimeout = 5_000;
    server.headersTimeout = IDLE_TIMEOUT_MS;
    server.requestTimeout = IDLE_TIMEOUT_MS;
    server.setTimeout(IDLE_TIMEOUT_MS, (socket) => socket.destroy());
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('connection', (socket: Socket) => {
      if (socket.remoteAddress !== peer && socket.remoteAddress !== `::ffff:${peer}`) socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port: 0, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    // the node's own servers decide when the process may exit; VMs outlive it anyway
    server.unref();
    channel = new MetaChannel(host, (server.address() as AddressInfo).port, server);
    return channel;
  }

  /** Connections open right now (tests: guest connections are relayed here, not to a process). */
  async connections(): Promise<number> {
    return new Promise((resolve, reject) => this.#server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  /** How many requests the guest made on this channel (since it was opened). */
  get requests(): number {
    return this.#requests;
  }

  /** Call `fn` once, at the guest's first request (used to end the VM's boot slot). */
  onFirstRequest(fn: () => void): void {
    if (this.#requests > 0) fn();
    else this.#onFirst = fn;
  }

  #seen(): void {
    this.#requests++;
    const fn = this.#onFirst;
    this.#onFirst = undefined;
    if (fn) fn();
  }

  /** Stop listening and drop open connections. */
  async close(): Promise<void> {
    this.#onFirst = undefined;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
