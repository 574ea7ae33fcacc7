import { request } from 'node:http';
import type { ShoalClient } from '../../src/client/index.js';
import type { ApplicationState } from '../../src/model/index.js';

/** Waits until the application's state is one of `statuses` (bounded by time and count). */
export async function waitForState(client: ShoalClient, uid: string, statuses: string[], timeoutMs = 30000): Promise<ApplicationState> {
  const deadline = Date.now() + timeoutMs;
  let last: ApplicationState | undefined;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    last = await client.getState(uid);
    if (statuses.includes(last.status)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`application ${uid} did not reach ${statuses.join('|')} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** GET the Meta API as the resource whose source address is `from`. */
export function metaGet(
  host: string,
  port: number,
  from: string,
  path = '/meta/v1/data',
): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, localAddress: from, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type'] ?? '') }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('meta request timed out')));
    req.end();
  });
}
