import { connect, isIP, type Socket } from 'node:net';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { DriverError, type ExecProcess, type ExecRequest, type ResourceAccess } from '../../contract/index.js';
import { backendError } from './engine.js';

/** how long connectPort waits for the environment's port to accept */
const CONNECT_TIMEOUT_MS = 10_000;
/** how long the exit status may lag behind the end of the output */
const EXIT_POLL_MS = 20;
const EXIT_POLLS = 250;
/** the login shell: bash when the image has it, else sh */
const LOGIN_SHELL = 'if [ -x /bin/bash ]; then exec /bin/bash -l; else exec /bin/sh -l; fi';

/**
 * The Cmd of an exec. Engine API 1.41 (Debian 12's docker.io) cannot give an exec its terminal
 * size at creation, and a resize after the start races the process's first look at it: with a
 * tty and a size, /bin/sh sets the size first (stty), then becomes the command.
 */
function execCmd(request: ExecRequest): string[] {
  const size = (n: number | undefined): n is number => n !== undefined && Number.isInteger(n) && n > 0 && n <= 10_000;
  const sized =
    request.tty && size(request.cols) && size(request.rows) ? `stty rows ${request.rows} cols ${request.cols} 2>/dev/null; ` : '';
  if (request.command.length === 0) return ['/bin/sh', '-c', sized + LOGIN_SHELL];
  if (!sized) return [...request.command];
  return ['/bin/sh', '-c', `${sized}exec "$@"`, 'sh', ...request.command];
}

/** The container of a resource that is running (undefined: none on this node). */
export type RunningContainer = (hwaddr: string) => Promise<Docker.ContainerInspectInfo | undefined>;

const gone = (hwaddr: string): DriverError => new DriverError('NOT_FOUND', `no running docker resource ${hwaddr} on this node`);

/**
 * Access into docker resources through the Engine alone (no sshd in the image): exec with a tty,
 * resize and exit code; files through the archive API; ports by connecting from the node to the
 * container's own address (host-only containers stay unreachable from anywhere else).
 */
export class DockerAccess implements ResourceAccess {
  readonly #docker: () => Docker;
  readonly #running: RunningContainer;

  constructor(docker: () => Docker, running: RunningContainer) {
    this.#docker = docker;
    this.#running = running;
  }

  async #container(hwaddr: string): Promise<Docker.ContainerInspectInfo> {
    const info = await this.#running(hwaddr);
    if (!info?.State.Running) throw gone(hwaddr);
    return info;
  }

  async exec(hwaddr: string, request: ExecRequest): Promise<ExecProcess> {
    const info = await this.#container(hwaddr);
    const docker = this.#docker();
    const env = Object.entries(request.env ?? {}).map(([k, v]) => `${k}=${v}`);
    let exec: Docker.Exec;
    let stream: Duplex;
    try {
      exec = await docker.getContainer(info.Id).exec({
        Cmd: execCmd(request),
        AttachStdin: true,
        AttachStdout: true,
        AttachStderr: true,
        Tty: request.tty,
        Env: env,
      });
      stream = await exec.start({ hijack: true, stdin: true, Tty: request.tty });
    } catch (err) {
      throw backendError(`cannot start a process in ${hwaddr}`, err);
    }
    return new DockerExec(exec, stream, request);
  }

  async connectPort(hwaddr: string, port: number): Promise<Duplex> {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new DriverError('INVALID_DEFINITION', `port ${String(port)}: must be 1–65535`, { field: 'port' });
    }
    const info = await this.#container(hwaddr);
    const address = Object.values(info.NetworkSettings.Networks ?? {})
      .map((n) => n.IPAddress)
      .find((ip) => ip && isIP(ip) !== 0);
    if (!address) throw new DriverError('NOT_FOUND', `docker resource ${hwaddr} has no network address`);
    return new Promise<Duplex>((resolve, reject) => {
      const socket: Socket = connect({ host: address, port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new DriverError('BACKEND', `port ${port} of ${hwaddr} did not accept within ${CONNECT_TIMEOUT_MS / 1000}s`));
      }, CONNECT_TIMEOUT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new DriverError('BACKEND', `port ${port} of ${hwaddr}: ${err.code ?? err.message}`, { cause: err }));
      });
    });
  }

  async copyIn(hwaddr: string, dir: string, archive: Readable): Promise<void> {
    const info = await this.#container(hwaddr);
    try {
      await this.#docker().getContainer(info.Id).putArchive(archive, { path: dir });
    } catch (err) {
      throw backendError(`cannot copy into ${dir} of ${hwaddr}`, err);
    }
  }

  async copyOut(hwaddr: string, path: string): Promise<Readable> {
    const info = await this.#container(hwaddr);
    try {
      return (await this.#docker().getContainer(info.Id).getArchive({ path })) as Readable;
    } catch (err) {
      throw backendError(`cannot copy ${path} out of ${hwaddr}`, err);
    }
  }
}

/**
 * Splits the Engine's multiplexed exec stream (frames of an 8-byte header: stream 1 = stdout,
 * 2 = stderr, then a big-endian length) into stdout and stderr, frames split across chunks included.
 */
function demuxStream(source: Duplex, stdout: PassThrough, stderr: PassThrough): void {
  let pending: Buffer = Buffer.alloc(0);
  source.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 8) {
      const len = pending.readUInt32BE(4);
      if (pending.length < 8 + len) break;
      const payload = pending.subarray(8, 8 + len);
      (pending[0] === 2 ? stderr : stdout).write(payload);
      pending = pending.subarray(8 + len);
    }
  });
}

/** One `docker exec` with its hijacked stream. */
class DockerExec implements ExecProcess {
  readonly stdin = new PassThrough();
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly exit: Promise<number | null>;
  readonly #exec: Docker.Exec;
  readonly #stream: Duplex;
  readonly #tty: boolean;
  #killed = false;

  constructor(exec: Docker.Exec, stream: Duplex, request: ExecRequest) {
    this.#exec = exec;
    this.#stream = stream;
    this.#tty = request.tty;
    // a terminal has no end of input: the Engine drops a tty exec's output when its stdin closes
    this.stdin.pipe(stream, { end: !request.tty });
    if (request.tty) {
      stream.pipe(this.stdout);
      this.stderr.end();
    } else {
      demuxStream(stream, this.stdout, this.stderr);
      stream.once('end', () => {
        this.stdout.end();
        this.stderr.end();
      });
    }
    const ended = new Promise<void>((resolve) => {
      stream.once('end', resolve);
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
    this.exit = ended.then(() => this.#exitCode());
  }

  async #exitCode(): Promise<number | null> {
    for (let i = 0; i < EXIT_POLLS; i++) {
      const r = await this.#exec.inspect().catch(() => undefined);
      if (!r) return null;
      if (!r.Running) return typeof r.ExitCode === 'number' ? r.ExitCode : null;
      await new Promise((res) => setTimeout(res, EXIT_POLL_MS));
    }
    return null;
  }

  async resize(cols: number, rows: number): Promise<void> {
    if (!this.#tty || this.#killed) return;
    try {
      await this.#exec.resize({ h: rows, w: cols });
    } catch (err) {
      throw backendError('cannot resize the terminal', err);
    }
  }

  async kill(): Promise<void> {
    if (this.#killed) return;
    this.#killed = true;
    // the Engine has no "kill exec": end the process by its host pid while it still runs
    const r = await this.#exec.inspect().catch(() => undefined);
    if (r?.Running && r.Pid > 0) {
      try {
        process.kill(r.Pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    this.#stream.destroy();
    this.stdout.end();
    this.stderr.end();
  }
}
