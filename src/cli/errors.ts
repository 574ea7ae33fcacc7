/** Exit codes of the `shoal` command. */
export const EXIT = {
  OK: 0,
  /** the API refused, the node is unreachable, or the awaited outcome failed (ERROR, timeout) */
  FAILURE: 1,
  /** bad command line: unknown option, bad value, missing argument, not logged in */
  USAGE: 2,
  /** interrupted by Ctrl-C */
  INTERRUPTED: 130,
} as const;

/** The command line itself is wrong; printed as `error: USAGE: <message>`, exit 2. */
export class UsageError extends Error {
  readonly code = 'USAGE';

  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Codes the CLI itself prints (`error: CODE: message`), besides the API's codes (docs/errors.md)
 * and the client's connection codes (UNREACHABLE, TLS, TIMEOUT, BAD_RESPONSE). Each is listed in
 * docs/cli.md; a test checks it.
 */
export const CLI_ERROR_CODES = [
  'USAGE', // bad command line, bad local file, not logged in → exit 2
  'CONFIG', // serve: the node config (file or flags) is invalid → exit 2
  'ADDRESS_IN_USE', // serve: the API or Meta API port is taken → exit 1
  'PERMISSION', // serve: not allowed to bind or write → exit 1
  'START_FAILED', // serve: the node could not start for another reason → exit 1
  'APPLICATION_ERROR', // --wait: the application went to ERROR (the reason follows) → exit 1
  'APPLICATION_DEALLOCATED', // create --wait: deallocated (or expired) before it was ALLOCATED → exit 1
  'TIMEOUT', // --wait: not there in time (the application is not cancelled) → exit 1
  'INTERRUPTED', // Ctrl-C while waiting (the application carries on) → exit 130
  'NOT_FOUND', // label NAME[:VERSION] matches no label → exit 1
  'INTERNAL', // a bug in the CLI → exit 1
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

/** The command ran but did not succeed (e.g. the application went to ERROR); exit 1. */
export class CliFailure extends Error {
  readonly code: CliErrorCode | 'UNREACHABLE';
  readonly exitCode: number;

  constructor(code: CliErrorCode | 'UNREACHABLE', message: string, exitCode: number = EXIT.FAILURE) {
    super(message);
    this.name = 'CliFailure';
    this.code = code;
    this.exitCode = exitCode;
  }
}
