import type { ServerResponse } from 'node:http';

/**
 * Streams `chunk` up to `maxChunks` times with backpressure, then ends: the "endless" body of the
 * download tests, bounded all the same so a client that fails to stop cannot run away.
 */
export function writeBounded(res: ServerResponse, chunk: Buffer, maxChunks: number): void {
  let sent = 0;
  const pump = (): void => {
    while (sent < maxChunks && !res.destroyed) {
      sent++;
      if (!res.write(chunk)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}
