/** Helpers for the native driver's tests: a fake Meta API, temp data dirs, waiting for console text, outside views. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverContext, DriverLogger, MetaAccess, MetaHandler } from '../../contract/index.js';
import { NativeDriver } from './driver.js';

/** Serves `data` per hwaddr as the node's Meta API would, and counts requests. */
export class FakeMeta implements MetaAccess {
  readonly address = '127.0.0.1:0';
  readonly data = new Map<string, Record<string, unknown>>();
  readonly served = new Map<string, number>();

  async listen(): Promise<() => Promise<void>> {
    return async () => undefined;
  }

  handlerFor(hwaddr: string): MetaHandler {
    return (req: IncomingMessage, res: ServerResponse) => {
      this.served.set(hwaddr, (this.served.get(hwaddr) ?? 0) + 1);
      const data = this.data.get(hwaddr);
      if (!data || !(req.url ?? '').startsWith('/meta/v1/data')) {
        res.statusCode = 404;
        res.end('{"error":{"code":"NOT_FOUND","message":"no such resource"}}');
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(data));
    };
  }
}

export const quietLog: DriverLogger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    console.error('[native warn]', msg, JSON.stringify(obj));
  },
  error(obj, msg) {
    console.error('[native error]', msg, JSON.stringify(obj));
  },
};

export async function tempDataDir(prefix: string): Promise<string> {
  return mkdtemp(join(process.env.SHOAL_TEST_TMP ?? tmpdir(), `shoal-native-${prefix}-`));
}

export function testContext(dataDir: string, meta: MetaAccess, log: DriverLogger = quietLog): DriverContext {
  return { instance: 'native', nodeName: 'test-node', dataDir, log, meta };
}

/** A prepared driver on a fresh data dir; `cleanup` deallocates what it still lists and removes the dir. */
export async function testDriver(
  prefix: string,
  config: Record<string, unknown> = {},
  meta: MetaAccess = new FakeMeta(),
): Promise<{ driver: NativeDriver; dataDir: string; cleanup: () => Promise<void> }> {
  const dataDir = await tempDataDir(prefix);
  const driver = new NativeDriver(testContext(dataDir, meta));
  await driver.prepare(JSON.stringify(config));
  return {
    driver,
    dataDir,
    cleanup: async () => {
      for (const h of await driver.listResources().catch(() => [] as string[])) await driver.deallocate(h).catch(() => undefined);
      await driver.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Wait until `read()` matches `re` (bounded); the error shows the end of the text. */
export async function waitForText(read: () => Promise<string>, re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    last = await read().catch((err: unknown) => `(${(err as Error).message})`);
    const m = re.exec(last);
    if (m) return m;
    await sleep(50);
  }
  throw new Error(`${what}: no ${String(re)} within ${timeoutMs} ms; last text: ${last.slice(-1500)}`);
}

/** /proc/PID/status as name → value. */
export async function procStatus(pid: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const line of (await readFile(`/proc/${pid}/status`, 'utf8')).split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** A definition JSON. */
export function nativeDefinition(options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string {
  return JSON.stringify({ options, requirements: { cpu: 1, ram: 1, ...requirements } });
}
