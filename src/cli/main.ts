import { CommanderError } from 'commander';
import { ShoalApiError, ShoalConnectionError } from '../client/index.js';
import { CliFailure, EXIT, UsageError } from './errors.js';
import { processIo, type CliIo } from './io.js';
import { buildProgram } from './program.js';

/** Runs the CLI with `argv` as process.argv (node, script, args…); returns the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return EXIT.OK;
  } catch (err) {
    return report(io, err);
  }
}

/** Entry point of bin/shoal.js. */
export async function main(argv: string[]): Promise<void> {
  // `shoal … | head`: a closed pipe ends the command quietly instead of with a stack trace
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
  const code = await runCli(argv, processIo());
  process.exitCode = code;
}

/** One line on stderr, `error: <code>: <message>`, and the exit code for it. */
export function report(io: CliIo, err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (through configureOutput); help/version exit 0
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (err instanceof UsageError) {
    io.err(`error: USAGE: ${err.message}\n`);
    return EXIT.USAGE;
  }
  if (err instanceof ShoalApiError || err instanceof ShoalConnectionError) {
    io.err(`error: ${err.code}: ${err.message}\n`);
    return EXIT.FAILURE;
  }
  if (err instanceof CliFailure) {
    io.err(`error: ${err.code}: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.err(`error: INTERNAL: ${message}\n`);
  if (io.env.SHOAL_DEBUG && err instanceof Error && err.stack) io.err(`${err.stack}\n`);
  return EXIT.FAILURE;
}
