/** What the CLI touches of its process, so tests can run it in-process. */
export interface CliIo {
  /** Writes to standard output (results). */
  out(text: string): void;
  /** Writes to standard error (errors, notes, progress). */
  err(text: string): void;
  /** Standard input (for `-f -` and `--token-file -`). */
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** stderr is a terminal: show the live progress line. */
  errIsTTY: boolean;
  /** Width of the terminal behind stderr (for the progress line). */
  columns: number;
  /** Runs handler on Ctrl-C (SIGINT) while subscribed; returns the unsubscribe function. */
  onInterrupt(handler: () => void): () => void;
}

export function processIo(): CliIo {
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdin: process.stdin,
    env: process.env,
    cwd: process.cwd(),
    errIsTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns || 80,
    onInterrupt: (handler) => {
      process.on('SIGINT', handler);
      return () => void process.off('SIGINT', handler);
    },
  };
}

/** Reads a whole stream (stdin) as UTF-8, up to maxBytes. */
export async function readStream(stream: NodeJS.ReadableStream, maxBytes = 16 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) throw new Error(`standard input is larger than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}
