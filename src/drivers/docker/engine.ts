import http from 'node:http';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { DriverError } from '../../contract/index.js';

/** dockerode errors carry the HTTP status of the Engine API answer. */
function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

export function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return statusOf(err) === 409;
}

/** "not modified" (304): e.g. stopping a container that is already stopped */
export function isNotModified(err: unknown): boolean {
  return statusOf(err) === 304;
}

/** The Engine's own message, without dockerode's "(HTTP code 404) no such container - " prefix noise. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message;
  return err instanceof Error ? err.message : String(err);
}

export function backendError(what: string, err: unknown): DriverError {
  if (err instanceof DriverError) return err;
  return new DriverError('BACKEND', `${what}: ${engineMessage(err)}`, { cause: err });
}

/** Read a JSON progress stream (load, import) to its end; rejects on an error message in it. */
export function readProgress(docker: Docker, stream: NodeJS.ReadableStream): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    docker.modem.followProgress(stream, (err: Error | null, out: unknown[]) => {
      if (err) {
        reject(err);
        return;
      }
      const bad = (out ?? []).find((m) => m && typeof m === 'object' && ('error' in m || 'errorDetail' in m)) as
        { error?: string; errorDetail?: { message?: string } } | undefined;
      if (bad) reject(new Error(bad.errorDetail?.message ?? bad.error ?? 'unknown error'));
      else resolve(out ?? []);
    });
  });
}

const requireCjs = createRequire(import.meta.url);

/**
 * A client for the Engine API on a unix socket. dockerode (~25 MB of modules) is loaded on first
 * use, so a node that does not run the docker driver never pays for it.
 */
export function connectEngine(socket: string): Docker {
  const DockerClient = requireCjs('dockerode') as typeof Docker;
  return new DockerClient({ socketPath: socket });
}

/** Resolve within `ms` or reject with a BACKEND error saying the daemon does not answer. */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new DriverError('BACKEND', `${what}: no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /_ping on the socket, destroying the connection when no answer comes within `ms` (a silent
 * socket must not keep a connection open). Rejects with a BACKEND error saying why.
 */
export function pingSocket(socket: string, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: '/_ping', headers: { host: 'docker' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 1000) body += c;
      });
      res.on('end', () => {
        clearTimeout(timer);
        if (res.statusCode === 200) resolve();
        else reject(new DriverError('BACKEND', `Docker daemon at ${socket} answered /_ping with HTTP ${res.statusCode}: ${body.trim()}`));
      });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new DriverError('BACKEND', `Docker daemon at ${socket} does not answer: no answer within ${ms / 1000} s`));
    }, ms);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(new DriverError('BACKEND', `Docker daemon at ${socket} does not answer: ${err.message}`, { cause: err }));
    });
  });
}
