import type { Duplex, Readable, Writable } from 'node:stream';

/**
 * The optional access part of the driver contract: what the node's SSH gate and the API's
 * WebSocket endpoints use to get into an environment. A driver without it cannot be entered;
 * one that has it but cannot (the test driver) throws DriverError UNSUPPORTED saying why.
 * Every call names the resource by its hwaddr; none outlives the resource.
 */

/** What to run in the environment. */
export interface ExecRequest {
  /** argv; empty = the environment's login shell */
  command: readonly string[];
  /** allocate a pseudo-terminal (stdout and stderr then arrive together on stdout) */
  tty: boolean;
  /** the terminal's size with `tty` */
  cols?: number;
  rows?: number;
  /** extra environment variables (TERM, LANG …) */
  env?: Readonly<Record<string, string>>;
}

/** A process running in the environment. */
export interface ExecProcess {
  /** ending it gives the process EOF on its standard input */
  readonly stdin: Writable;
  readonly stdout: Readable;
  /** empty with a tty */
  readonly stderr: Readable;
  /** the process's exit status once it ended and its output was delivered; null when unknown */
  readonly exit: Promise<number | null>;
  /** change the pseudo-terminal's size (no-op without a tty) */
  resize(cols: number, rows: number): Promise<void>;
  /** ends the process (the session is over) and releases its streams; idempotent */
  kill(): Promise<void>;
}

/** Entering an environment: processes, TCP ports and files. */
export interface ResourceAccess {
  /** start a process in the environment of `hwaddr` */
  exec(hwaddr: string, request: ExecRequest): Promise<ExecProcess>;
  /**
   * A TCP connection from the node to `port` of the environment itself (never to anywhere else):
   * resolves once connected; throws DriverError NOT_FOUND / BACKEND naming the reason otherwise.
   */
  connectPort(hwaddr: string, port: number): Promise<Duplex>;
  /** extract the tar archive `archive` into the directory `dir` of the environment */
  copyIn(hwaddr: string, dir: string, archive: Readable): Promise<void>;
  /** a tar archive of `path` (a file or a directory) of the environment */
  copyOut(hwaddr: string, path: string): Promise<Readable>;
}
