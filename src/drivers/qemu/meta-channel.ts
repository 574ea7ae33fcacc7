/**
 * A VM's own Meta API channel: an HTTP server on a per-VM unix socket that answers as that VM only
 * (`ctx.meta.handlerFor(hwaddr)`). QEMU reaches it through the VM's user-mode network:
 * `guestfwd=tcp:<meta address>:80-cmd:socat STDIO UNIX-CONNECT:<socket>` starts one relay per
 * guest connection, so each guest TCP connection is one unix connection here. The socket path is
 * on the VM's own command line: nothing the guest does (changing its MAC or IP) changes who it is.
 */
import { chmod, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { DriverLogger, MetaHandler } from '../../contract/index.js';

/** Per-VM limits so a guest cannot make the host start many relays or hold many connections. */
const MAX_CONNECTIONS = 8;
const IDLE_TIMEOUT_MS = 15_000;

export class MetaChannel {
  readonly path: string;
  readonly #server: Server;
  #requests = 0;
  #inode = -1;
  #onFirst: (() => void) | undefined;

  private constructor(path: string, server: Server) {
    this.path = path;
    this.#server = server;
  }

  /** Listen on `path` (a stale socket file there is replaced). */
  static async open(path: string, handler: MetaHandler, log: DriverLogger): Promise<MetaChannel> {
    await rm(path, { force: true });
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
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
    // the node's own servers decide when the process may exit; VMs outlive it anyway
    server.unref();
    channel = new MetaChannel(path, server);
    channel.#inode = (await stat(path)).ino;
    return channel;
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

  /**
   * Stop listening, drop open connections and remove the socket file (only if it is still this
   * channel's: a newer driver process may have replaced it).
   */
  async close(): Promise<void> {
    this.#onFirst = undefined;
    let ours = false;
    try {
      ours = (await stat(this.path)).ino === this.#inode;
    } catch {
      // already gone
    }
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    if (ours) await rm(this.path, { force: true });
  }
}
