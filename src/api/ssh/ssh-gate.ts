import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import type { Connection, PublicKeyAuthContext, ServerChannel, Session } from 'ssh2';
import {
  fingerprintOf,
  type AccessSessionKind,
  type AccessTarget,
  type Caller,
  type CoreService,
  type ExecProcess,
} from '../../core/index.js';
import type { LoginRateLimiter } from '../login-rate-limiter.js';
import type { HostKey } from './host-key.js';

/** where the environment's SFTP server usually is (Debian/Ubuntu, Fedora/RHEL, Arch, Alpine) */
const SFTP_SERVER = [
  '/bin/sh',
  '-c',
  'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; ' +
    'do [ -x "$p" ] && exec "$p"; done; echo "shoal: this environment has no SFTP server (install openssh-sftp-server)" >&2; exit 127',
];
/** addresses a port-forward may name for "the environment itself" (besides its own address) */
const SELF = new Set(['localhost', '127.0.0.1', '::1', 'ip6-localhost']);
/** environment variables a client may pass (`SendEnv`) */
const PASSED_ENV = /^(LANG|LC_[A-Z]+|TZ)$/;
/** how long a client has to authenticate */
const AUTH_TIMEOUT_MS = 30_000;

export interface SshGateOptions {
  core: CoreService;
  log: Logger;
  hostKey: HostKey;
  limiter: LoginRateLimiter;
}

export interface SshGate {
  /** host:port it listens on */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The SSH gate: `ssh -p 8022 <application uid>@node`. The username names the application, the
 * key says who is calling (a key the owner or an admin registered); a connection is bound to that
 * one environment. Shells with a pty (window changes follow), exec with stdout/stderr apart, stdin
 * to EOF and the exit status, the `sftp` subsystem when the environment has an SFTP server (scp
 * uses it), and `direct-tcpip` (ssh -L / -W) to the environment's own ports only. Every channel is
 * a recorded session; all of them end when the application leaves ALLOCATED.
 */
export async function startSshGate(opts: SshGateOptions, host: string, port: number): Promise<SshGate> {
  const { core, log, limiter } = opts;
  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [opts.hostKey.privateKey], ident: 'shoal-gate' }, (client, info) => {
    connections.add(client);
    const source = `${info.ip}:${info.port}`;
    new GateConnection(client, source, info.ip, core, log, limiter).start();
    client.on('close', () => connections.delete(client));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err: Error) => log.warn({ err: err.message }, 'ssh gate listener error'));
  const addr = server.address() as AddressInfo;
  return {
    address: `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}`,
    port: addr.port,
    close: async () => {
      for (const c of connections) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** One client connection: authentication, then its channels into one environment. */
class GateConnection {
  #target: AccessTarget | undefined;
  #authenticated = false;
  #triedKey = false;
  #closed = false;

  constructor(
    readonly client: Connection,
    readonly source: string,
    readonly ip: string,
    readonly core: CoreService,
    readonly log: Logger,
    readonly limiter: LoginRateLimiter,
  ) {}

  start(): void {
    const { client } = this;
    const authTimer = setTimeout(() => {
      if (!this.#authenticated) client.end();
    }, AUTH_TIMEOUT_MS);
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      void this.#auth(ctx).catch((err: Error) => {
        this.log.warn({ err: err.message, source: this.source }, 'ssh gate: authentication failed unexpectedly');
        ctx.reject(['publickey']);
      });
    });
    client.on('ready', () => {
      clearTimeout(authTimer);
      const target = this.#target;
      if (!target) return void client.end();
      if (target.ended.aborted) return void client.end();
      target.ended.addEventListener('abort', () => client.end(), { once: true });
      client.on('session', (accept) => this.#session(target, accept()));
      client.on('tcpip', (accept, reject, info) => void this.#forward(target, info.destIP, info.destPort, accept, reject));
    });
    client.on('error', (err: Error) => this.log.debug({ err: err.message, source: this.source }, 'ssh gate: connection error'));
    client.on('close', () => {
      clearTimeout(authTimer);
      this.#closed = true;
      if (this.#target) this.core.releaseAccess(this.#target);
      if (!this.#authenticated && this.#triedKey) this.limiter.fail(this.ip);
    });
  }

  async #auth(ctx: PublicKeyAuthContext): Promise<void> {
    this.#triedKey = true;
    if (this.limiter.retryAfter(this.ip) > 0) return ctx.reject(['publickey']);
    const caller: Caller | null = await this.core.callerForKey(fingerprintOf(ctx.key.data));
    let target: AccessTarget | undefined;
    if (caller) target = await this.core.openAccess(caller, ctx.username).catch(() => undefined);
    // unknown key, unknown uid, someone else's application, not ALLOCATED: the same refusal
    if (!caller || !target) return ctx.reject(['publickey']);
    if (!ctx.signature || !ctx.blob) {
      // the client asks whether this key would do; it signs next
      this.core.releaseAccess(target);
      return ctx.accept();
    }
    const key = ssh2.utils.parseKey(ctx.key.data);
    const valid = !(key instanceof Error) && !Array.isArray(key) && key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true;
    if (!valid || this.#closed) {
      this.core.releaseAccess(target);
      return ctx.reject(['publickey']);
    }
    if (this.#target) this.core.releaseAccess(this.#target);
    this.#target = target;
    this.#authenticated = true;
    this.log.info({ application: target.uid, user: caller.name, source: this.source }, 'ssh gate: logged in');
    ctx.accept();
  }

  #session(target: AccessTarget, session: Session): void {
    let pty: { cols: number; rows: number; term: string } | undefined;
    const env: Record<string, string> = {};
    let proc: ExecProcess | undefined;
    session.on('pty', (accept, _reject, info) => {
      pty = { cols: info.cols, rows: info.rows, term: info.term };
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      if (pty) pty = { ...pty, cols: info.cols, rows: info.rows };
      void proc?.resize(info.cols, info.rows).catch(() => undefined);
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      if (PASSED_ENV.test(info.key) && info.val.length < 256) {
        env[info.key] = info.val;
        accept?.();
      } else reject?.();
    });
    const run = async (channel: ServerChannel, command: string[], kind: AccessSessionKind, tty: boolean): Promise<void> => {
      const record = target.record(kind, 'ssh', this.source);
      const size = tty && pty ? { cols: pty.cols, rows: pty.rows } : {};
      const vars: Record<string, string> = { ...env };
      if (tty && pty?.term) vars.TERM = pty.term;
      try {
        proc = await target.exec({ command, tty, ...size, env: vars });
      } catch (err) {
        channel.stderr.write(`shoal: ${(err as Error).message}\r\n`);
        channel.exit(255);
        channel.end();
        record.finish(null);
        return;
      }
      pipeSession(channel, proc, record, target.ended);
    };
    session.on('shell', (accept) => void run(accept(), [], 'shell', pty !== undefined));
    session.on('exec', (accept, _reject, info) => void run(accept(), ['/bin/sh', '-c', info.command], 'exec', pty !== undefined));
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return void reject();
      void run(accept(), SFTP_SERVER, 'sftp', false);
    });
  }

  async #forward(target: AccessTarget, destIP: string, destPort: number, accept: () => ServerChannel, reject: () => void): Promise<void> {
    // the environment's own ports only: never a hop to anywhere else
    if (!SELF.has(destIP) && destIP !== target.ipaddr) return reject();
    let sock: Duplex;
    try {
      sock = await target.connectPort(destPort);
    } catch (err) {
      this.log.debug({ application: target.uid, port: destPort, err: (err as Error).message }, 'ssh gate: port-forward refused');
      return reject();
    }
    if (target.ended.aborted || this.#closed) {
      sock.destroy();
      return reject();
    }
    const channel = accept();
    const record = target.record('port-forward', 'ssh', this.source);
    channel.on('data', (c: Buffer) => record.countIn(c.length));
    sock.on('data', (c: Buffer) => record.countOut(c.length));
    channel.pipe(sock);
    sock.pipe(channel);
    const done = (): void => {
      sock.destroy();
      channel.destroy();
      record.finish(null);
    };
    sock.on('close', done);
    sock.on('error', done);
    channel.on('close', done);
    target.ended.addEventListener('abort', done, { once: true });
  }
}

/** Wires an SSH channel to a process: stdin to EOF, stdout/stderr apart, the exit status, bytes counted. */
function pipeSession(channel: ServerChannel, proc: ExecProcess, record: ReturnType<AccessTarget['record']>, ended: AbortSignal): void {
  let finished = false;
  channel.on('data', (c: Buffer) => record.countIn(c.length));
  channel.pipe(proc.stdin);
  proc.stdout.on('data', (c: Buffer) => record.countOut(c.length));
  proc.stderr.on('data', (c: Buffer) => record.countOut(c.length));
  proc.stdout.pipe(channel, { end: false });
  proc.stderr.pipe(channel.stderr, { end: false });
  const outputDone = Promise.all([new Promise((r) => proc.stdout.once('end', r)), new Promise((r) => proc.stderr.once('end', r))]);
  const cut = (): void => {
    if (finished) return;
    finished = true;
    const reason = ended.reason instanceof Error ? ended.reason.message : 'the environment ended';
    channel.stderr.write(`\r\nshoal: session closed: ${reason}\r\n`);
    channel.exit(255);
    channel.end();
    void proc.kill();
    record.finish(null);
  };
  ended.addEventListener('abort', cut, { once: true });
  void Promise.all([proc.exit, outputDone]).then(([code]) => {
    if (finished) return;
    finished = true;
    ended.removeEventListener('abort', cut);
    if (code === null) channel.exit('KILL');
    else channel.exit(code);
    channel.end();
    record.finish(code);
  });
  channel.on('close', () => {
    if (finished) return;
    finished = true;
    ended.removeEventListener('abort', cut);
    void proc.kill();
    record.finish(null);
  });
}
