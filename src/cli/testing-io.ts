import { Readable } from 'node:stream';
import type { CliIo } from './io.js';

/** Test support: a CliIo that records what the CLI prints. */
export interface RecordingIo extends CliIo {
  stdout(): string;
  stderr(): string;
}

export function recordingIo(cwd: string, env: NodeJS.ProcessEnv, stdin = ''): RecordingIo {
  let out = '';
  let err = '';
  return {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    stdin: Readable.from([Buffer.from(stdin)]),
    env,
    cwd,
    errIsTTY: false,
    columns: 80,
    onInterrupt: () => () => undefined,
    stdout: () => out,
    stderr: () => err,
  };
}
