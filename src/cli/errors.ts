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

/** The command ran but did not succeed (e.g. the application went to ERROR); exit 1. */
export class CliFailure extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode: number = EXIT.FAILURE) {
    super(message);
    this.name = 'CliFailure';
    this.code = code;
    this.exitCode = exitCode;
  }
}
