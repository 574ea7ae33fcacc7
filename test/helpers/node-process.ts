import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { freePort } from './free-port.js';

const ROOT = new URL('../../../', import.meta.url).pathname; // dist/test/helpers → repo root
export const SHOAL_BIN = join(ROOT, 'bin', 'shoal.js');

export interface NodeProcessOptions {
  /** the node's config file content (YAML mapping); data dir/ports are set by the harness */
  config?: Record<string, unknown>;
  /** reuse this data dir (restart tests) */
  dataDir?: string;
  tls?: boolean;
  name?: string;
  db?: string;
  env?: NodeJS.ProcessEnv;
  apiPort?: number;
  metaPort?: number;
  /** the SSH gate's port (default: a free one) */
  sshPort?: number;
  /** node's own flags before the script, e.g. ['--cpu-prof'] for a profile */
  execArgv?: string[];
}

export interface NodeProcess {
  proc: ChildProcess;
  dataDir: string;
  apiUrl: string;
  metaHost: string;
  metaPort: number;
  /** the SSH gate's port on 127.0.0.1 */
  sshPort: number;
  token: string;
  ca: string | undefined;
  apiPort: number;
  /** everything the node printed (stdout + stderr) */
  output(): string;
  /** SIGTERM and wait for exit; resolves to the exit code */
  stop(): Promise<number | null>;
  /** SIGKILL and wait */
  kill(): Promise<void>;
  /** remove the data dir */
  cleanup(): Promise<void>;
}

async function waitHealthy(url: string, ca: string | undefined, proc: ChildProcess, out: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; Date.now() < deadline && i < 2000; i++) {
    if (proc.exitCode !== null) throw new Error(`node exited with ${proc.exitCode} before answering:\n${out()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const u = new URL('/health', url);
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { ca, timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
      req.end();
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`node did not answer /health within ${timeoutMs} ms:\n${out()}`);
}

/** Starts a real `shoal serve` process on free loopback ports in a temp data dir. */
export async function startNodeProcess(opts: NodeProcessOptions = {}): Promise<NodeProcess> {
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'shoal-node-')));
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const apiPort = opts.apiPort ?? (await freePort());
  const metaPort = opts.metaPort ?? (await freePort());
  const sshPort = opts.sshPort ?? (await freePort());
  const tls = opts.tls ?? false;
  const configPath = join(dataDir, 'test-config.yml');
  await writeFile(configPath, toYaml(opts.config ?? {}));
  const args = [
    ...(opts.execArgv ?? []),
    SHOAL_BIN,
    'serve',
    '-c',
    configPath,
    '--data-dir',
    dataDir,
    '--api',
    `127.0.0.1:${apiPort}`,
    '--meta',
    `127.0.0.1:${metaPort}`,
    '--ssh',
    `127.0.0.1:${sshPort}`,
  ];
  if (!tls) args.push('--no-tls');
  if (opts.name) args.push('--name', opts.name);
  if (opts.db) args.push('--db', opts.db);
  const proc = spawn(process.execPath, args, {
    cwd: dataDir,
    env: { ...process.env, SHOAL_LOG_LEVEL: process.env.SHOAL_LOG_LEVEL ?? 'warn', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const output = (): string => out;
  const apiUrl = `${tls ? 'https' : 'http'}://127.0.0.1:${apiPort}`;
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    let ca: string | undefined;
    if (tls) {
      // the CA is written before the API listens
      const deadline = Date.now() + 20000;
      while (!ca && Date.now() < deadline) {
        ca = await readFile(join(dataDir, 'tls', 'ca.crt'), 'utf8').catch(() => undefined);
        if (!ca) await new Promise((r) => setTimeout(r, 50));
      }
    }
    await waitHealthy(apiUrl, ca, proc, output, 30000);
    // absent when the admin already existed in a shared database (a second node of a cluster)
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8').catch(() => '')).trim();
    return {
      proc,
      dataDir,
      apiUrl,
      apiPort,
      metaHost: '127.0.0.1',
      metaPort,
      sshPort,
      token,
      ca,
      output,
      stop: async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
        return exited;
      },
      kill: async () => {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited;
      },
      cleanup: async () => {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGKILL');
          await exited;
        }
        if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    proc.kill('SIGKILL');
    await exited;
    throw err;
  }
}
