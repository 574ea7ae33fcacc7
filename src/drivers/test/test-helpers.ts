import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DriverContext, DriverLogger, MetaAccess } from '../../contract/index.js';
import { TestDriver, type TestDriverOptions } from './driver.js';

/** Helpers for the test driver's own tests (not used by the driver). */

export interface LogLine {
  level: string;
  obj: object;
  msg: string | undefined;
}

export function memoryLog(): DriverLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const noMeta: MetaAccess = {
  address: '127.0.0.1:0',
  listen: async () => {
    throw new Error('the test driver does not open Meta API listeners');
  },
  handlerFor: () => () => {
    throw new Error('the test driver has no per-resource channels');
  },
};

export function contextFor(dataDir: string, instance = 'test', log: DriverLogger = memoryLog()): DriverContext {
  return { instance, nodeName: 'node-under-test', dataDir, log, meta: noMeta };
}

/** Temporary data dirs, removed by `cleanup()` (call it in after()). */
export class TempDirs {
  readonly #dirs: string[] = [];

  async make(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-test-driver-'));
    this.#dirs.push(dir);
    return dir;
  }

  async cleanup(): Promise<void> {
    for (const d of this.#dirs.splice(0)) await rm(d, { recursive: true, force: true });
  }
}

/** A prepared TestDriver over `dataDir`. */
export async function preparedDriver(
  dataDir: string,
  config: object | string = {},
  options: TestDriverOptions = {},
  instance = 'test',
): Promise<TestDriver> {
  const driver = new TestDriver(contextFor(dataDir, instance), options);
  await driver.prepare(typeof config === 'string' ? config : JSON.stringify(config));
  return driver;
}

/** A definition string for the test driver. */
export function def(requirements: object = { cpu: 1, ram: 1 }, options: object = {}): string {
  return JSON.stringify({ options, requirements });
}
