import { execFile } from 'node:child_process';
import { DriverError } from '../../contract/index.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** A host command that failed: keeps the exit code and stderr for callers that expect some failures. */
export class CommandError extends DriverError {
  readonly exitCode: number | null;
  readonly stderr: string;

  constructor(cmd: string, args: string[], exitCode: number | null, stderr: string, cause?: Error) {
    super(
      'BACKEND',
      `${cmd} ${args.join(' ')} failed${exitCode === null ? '' : ` (exit ${exitCode})`}: ${stderr.trim() || String(cause ?? '')}`,
      {
        cause,
      },
    );
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Run a host tool (mkfs, mount, iptables, …) without a shell. Rejects with CommandError on a
 * non-zero exit or after `timeoutMs`. Never pass secrets in args: they end up in error messages.
 */
export function runCommand(cmd: string, args: string[], opts: { timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const code = typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as { code: number }).code : null;
          const why = err.killed ? `timed out after ${opts.timeoutMs ?? 120_000} ms` : stderr || err.message;
          reject(new CommandError(cmd, args, code, why, err));
          return;
        }
        resolve({ stdout, stderr });
      },
    );
  });
}
