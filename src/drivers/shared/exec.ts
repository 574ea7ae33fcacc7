import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { DriverError } from '../../contract/index.js';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const OUTPUT_LIMIT = 64 * 1024;

/**
 * Run a program (no shell) and collect its output. Rejects with DriverError BACKEND when it cannot
 * start, exits non-zero (unless `allowFailure`) or runs past `timeoutMs` (then it is killed).
 */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; allowFailure?: boolean; cwd?: string; input?: string } = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: opts.cwd });
    // input (e.g. an `ip -batch -` script) on stdin; none: stdin at EOF at once
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < OUTPUT_LIMIT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < OUTPUT_LIMIT) stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new DriverError('BACKEND', `cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code: code ?? -1, stdout, stderr };
      if (timedOut) {
        reject(
          new DriverError('BACKEND', `${cmd} ${args[0] ?? ''} did not finish within ${Math.round(timeoutMs / 1000)} s and was killed`),
        );
      } else if (code !== 0 && !opts.allowFailure) {
        const why = signal ? `was killed by ${signal}` : `exited with ${code}`;
        reject(
          new DriverError('BACKEND', `${cmd} ${args[0] ?? ''} ${why}: ${stderr.trim().slice(0, 2000) || stdout.trim().slice(0, 500)}`),
        );
      } else {
        resolve(result);
      }
    });
  });
}

/** Resolve a program name through PATH (or check an absolute path); undefined when not executable. */
export async function which(program: string): Promise<string | undefined> {
  const candidates =
    isAbsolute(program) || program.includes('/')
      ? [program]
      : (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin')
          .split(delimiter)
          .filter(Boolean)
          .map((d) => join(d, program));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}
