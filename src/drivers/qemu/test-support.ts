/**
 * Helpers for the qemu driver's tests and benchmark (not used by the driver): building the test
 * guest, a Meta API stand-in serving per-hwaddr JSON, a driver context over a fresh data dir, and
 * waiting for marker lines the test guest prints on its serial console.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverContext, DriverLogger, FetchPolicy, MetaAccess, MetaHandler } from '../../contract/index.js';

export interface TestGuest {
  kernel: { path: string; url: string; sum: string };
  initrd: { path: string; url: string; sum: string };
  bootRaw: { path: string; url: string; sum: string };
  bootQcow2: { path: string; url: string; sum: string };
}

/** The repository root (where scripts/ is), from this file's location in src/ or dist/src/. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'scripts', 'build-test-guest.sh'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the repository root (scripts/build-test-guest.sh)');
}

let built: TestGuest | undefined;

/** Build (or reuse the cached) test guest with scripts/build-test-guest.sh. */
export function buildTestGuest(): TestGuest {
  if (built) return built;
  const root = repoRoot();
  const r = spawnSync('bash', [join(root, 'scripts', 'build-test-guest.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`build-test-guest.sh failed (${r.status}): ${r.stderr}${r.stdout}`);
  const dir = process.env.SHOAL_TEST_GUEST_DIR ?? join(root, '.shoal-test', 'guest');
  const env = new Map<string, string>();
  for (const line of readFileSync(join(dir, 'guest.env'), 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env.set(line.slice(0, i), line.slice(i + 1));
  }
  const file = (key: string): { path: string; url: string; sum: string } => {
    const path = env.get(`SHOAL_GUEST_${key}`);
    const sum = env.get(`SHOAL_GUEST_${key}_SUM`);
    if (!path || !sum) throw new Error(`guest.env lacks ${key}`);
    return { path, url: `file://${path}`, sum };
  };
  built = { kernel: file('VMLINUZ'), initrd: file('INITRD_IMG'), bootRaw: file('BOOT_RAW'), bootQcow2: file('BOOT_QCOW2') };
  return built;
}

/** A MetaAccess stand-in: handlerFor(hwaddr) serves that hwaddr's JSON and counts the calls. */
export class FakeMeta implements MetaAccess {
  readonly address = '127.0.0.1:0';
  readonly data = new Map<string, Record<string, unknown>>();
  /** hwaddr → number of requests served as that hwaddr */
  readonly served = new Map<string, number>();
  readonly #waiters: Array<{ hwaddr: string; resolve: () => void }> = [];

  async listen(): Promise<() => Promise<void>> {
    return async () => undefined;
  }

  handlerFor(hwaddr: string): MetaHandler {
    return (req: IncomingMessage, res: ServerResponse) => {
      this.served.set(hwaddr, (this.served.get(hwaddr) ?? 0) + 1);
      for (const w of this.#waiters.filter((x) => x.hwaddr === hwaddr)) {
        this.#waiters.splice(this.#waiters.indexOf(w), 1);
        w.resolve();
      }
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

  /** Resolves at the next request served as `hwaddr` (or at once if `already` and one was served). */
  nextRequest(hwaddr: string, already = false): Promise<void> {
    if (already && (this.served.get(hwaddr) ?? 0) > 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ hwaddr, resolve }));
  }
}

export const silentLog: DriverLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** A logger that prints warnings and errors (for debugging failing tests). */
export const warnLog: DriverLogger = {
  debug() {},
  info() {},
  warn(obj, msg) {
    console.error('[qemu warn]', msg, JSON.stringify(obj));
  },
  error(obj, msg) {
    console.error('[qemu error]', msg, JSON.stringify(obj));
  },
};

export async function tempDataDir(prefix: string): Promise<string> {
  return mkdtemp(join(process.env.SHOAL_TEST_TMP ?? tmpdir(), `shoal-qemu-${prefix}-`));
}

/** The fetch policy of test drivers: test files live under the temp dir, the test guest under .shoal-test. */
export function testFetchPolicy(): FetchPolicy {
  const dirs = [tmpdir(), join(repoRoot(), '.shoal-test')];
  if (process.env.SHOAL_TEST_GUEST_DIR) dirs.push(process.env.SHOAL_TEST_GUEST_DIR);
  return { allowFiles: dirs, allowHosts: [], maxImageBytes: 16 * 2 ** 30 };
}

export function testContext(dataDir: string, meta: MetaAccess, log: DriverLogger = warnLog): DriverContext {
  return { instance: 'qemu', nodeName: 'test-node', dataDir, log, meta, fetch: testFetchPolicy() };
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until `read()` (e.g. the console) matches `re`; returns the match. Bounded by `timeoutMs`;
 * the error shows the end of the text for diagnosis.
 */
export async function waitForText(
  read: () => Promise<string>,
  re: RegExp,
  timeoutMs: number,
  what = String(re),
): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  for (;;) {
    try {
      text = await read();
    } catch {
      text = '';
    }
    const m = text.match(re);
    if (m) return m;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; console ends with:\n${text.slice(-3000)}`);
    await sleep(200);
  }
}

/** A definition for the test guest booted by kernel + initrd. */
export function kernelDefinition(
  guest: TestGuest,
  opts: { cpu?: number; ram?: number; append?: string; disks?: Record<string, unknown>; network?: string } = {},
): string {
  return JSON.stringify({
    options: {
      kernel: { url: guest.kernel.url, sum: guest.kernel.sum },
      initrd: { url: guest.initrd.url, sum: guest.initrd.sum },
      append: `quiet panic=-1 ${opts.append ?? ''}`.trim(),
    },
    requirements: { cpu: opts.cpu ?? 1, ram: opts.ram ?? 1, disks: opts.disks ?? {}, network: opts.network ?? '' },
  });
}

export interface OutsideVm {
  pid: number;
  args: string[];
  /** the QMP socket path from its command line */
  qmp: string;
  /** the console log path from its command line */
  consoleLog: string;
}

/** Find a VM from outside the driver: the qemu-system process whose NIC has this MAC (/proc scan). */
export async function qemuByMac(hwaddr: string): Promise<OutsideVm | undefined> {
  const { readdir } = await import('node:fs/promises');
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let raw: string;
    try {
      raw = await readFile(`/proc/${e}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const args = raw.split('\0');
    if (!args[0]?.includes('qemu-system') && !args.some((a) => a.includes('qemu-system'))) continue;
    // the NIC's own option (not e.g. a kernel command line that mentions the MAC)
    const nic = args.find((a) => a.startsWith('virtio-net-pci,') && a.split(',').includes(`mac=${hwaddr}`));
    if (!nic) continue;
    const qmpArg = args[args.indexOf('-qmp') + 1] ?? '';
    const chardev = args.find((a) => a.startsWith('file,id=console,')) ?? '';
    return {
      pid: Number(e),
      args,
      qmp: qmpArg.replace(/^unix:/, '').split(',')[0]!,
      consoleLog: /path=([^,]+)/.exec(chardev)?.[1] ?? '',
    };
  }
  return undefined;
}
