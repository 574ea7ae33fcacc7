// Native driver benchmark: an API request to a real `shoal serve` process until the event stream
// says ALLOCATED, beside a bare bwrap launch of the same command with the same limits set by hand
// (a cgroup with the same cpu/memory/pids files written, joined before exec, then setpriv + bwrap
// with new user/pid/ipc/uts/net namespaces and the host's /usr read-only, timed until the command
// runs), in one run, interleaved so both see the same machine load; then 100 environments at once.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openCgroups, type Cgroups } from '../src/drivers/native/cgroups.js';
import { JOIN_CGROUP, setprivArgs } from '../src/drivers/native/sandbox.js';
import type { Application } from '../src/model/index.js';
import { startNodeProcess, type NodeProcess } from '../test/helpers/node-process.js';
import { median, openSession, type Session } from './lib/api-session.js';
import type { BenchRow } from './lib/report.js';

const SEQUENTIAL = 12;
const PARALLEL = 100;
const GB = 1024 ** 3;
const PIDS = 64;
const RAW_UID = 202_999;
const COMMAND = ['/bin/sh', '-c', 'exec sleep 3600'];

interface RawSandbox {
  pid: number;
  id: string;
}

/** One bare sandbox: cgroup limits by hand, then setpriv + bwrap; resolves when the command runs. */
async function rawLaunch(cg: Cgroups, dir: string, id: string): Promise<RawSandbox> {
  await cg.create(id, { cpu: 1, ramBytes: GB, pids: PIDS });
  const ready = join(dir, `${id}.ready`);
  const fh = await open(ready, 'w');
  const args = [
    '--unshare-user',
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-net',
    '--ro-bind',
    '/usr',
    '/usr',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--',
    '/bin/sh',
    '-c',
    'echo ready >&3; exec 3>&-; exec "$@"',
    'sh',
    ...COMMAND,
  ];
  const child = spawn('/bin/sh', ['-c', JOIN_CGROUP, 'sh', 'setpriv', ...setprivArgs(RAW_UID), 'bwrap', ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', fh.fd],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SHOAL_CGROUP_PROCS: cg.procsFiles(id).join(' ') },
  });
  await fh.close();
  child.unref();
  for (let i = 0; i < 30_000; i++) {
    if ((await readFile(ready, 'utf8').catch(() => '')) !== '') return { pid: child.pid!, id };
    if (child.exitCode !== null) throw new Error(`raw bwrap exited with ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, i < 100 ? 1 : 10));
  }
  throw new Error('raw bwrap did not start');
}

async function release(s: Session, uids: string[]): Promise<void> {
  await Promise.all(uids.map((u) => s.request('POST', `/api/v1/applications/${u}/deallocate`).catch(() => undefined)));
  await Promise.all(uids.map((u) => s.waitFor(u, 'DEALLOCATED', 120_000).catch(() => undefined)));
}

export async function run(): Promise<BenchRow[]> {
  const tag = `bench${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${tag}-`));
  const cg = await openCgroups('/sys/fs/cgroup', tag);
  const raws: RawSandbox[] = [];
  let node: NodeProcess | undefined;
  let s: Session | undefined;
  const uids: string[] = [];
  let n = 0;
  const raw = async (): Promise<number> => {
    const t0 = performance.now();
    raws.push(await rawLaunch(cg, dir, `r${n++}`));
    return performance.now() - t0;
  };
  const removeRaws = async (): Promise<void> => {
    for (const r of raws.splice(0)) await cg.remove(r.id);
  };
  try {
    node = await startNodeProcess({
      tls: true,
      config: {
        capacity: { cpu: 256, ram: 256 },
        drivers: { native: { capacity: { cpu: 256, ram: 256 }, pids_limit: PIDS } },
      },
    });
    s = await openSession(node.apiUrl, node.token, node.ca);
    await s.request('POST', '/api/v1/labels', {
      name: tag,
      definitions: [{ driver: 'native', options: { command: COMMAND }, requirements: { cpu: 1, ram: 1 } }],
    });
    const session = s;
    const viaApi = async (): Promise<number> => {
      const t0 = performance.now();
      const app = await session.request<Application>('POST', '/api/v1/applications', { label: tag });
      uids.push(app.uid);
      await session.waitFor(app.uid, 'ALLOCATED', 120_000);
      return performance.now() - t0;
    };
    // warm-up, both sides
    await viaApi();
    await raw();
    const shoalMs: number[] = [];
    const rawMs: number[] = [];
    for (let i = 0; i < SEQUENTIAL; i++) {
      if (i % 2 === 0) {
        shoalMs.push(await viaApi());
        rawMs.push(await raw());
      } else {
        rawMs.push(await raw());
        shoalMs.push(await viaApi());
      }
    }
    await release(s, uids.splice(0));
    await removeRaws();

    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: PARALLEL }, () => viaApi()));
    const shoalPar = performance.now() - t0;
    const allocated = results.filter((r) => r.status === 'fulfilled').length;
    const r0 = performance.now();
    const rawResults = await Promise.allSettled(Array.from({ length: PARALLEL }, () => raw()));
    const rawPar = performance.now() - r0;
    const rawOk = rawResults.filter((r) => r.status === 'fulfilled').length;
    const p50 = median(shoalMs);
    const r50 = median(rawMs);
    return [
      {
        group: 'native',
        metric: `API → ALLOCATED p50, ${SEQUENTIAL} sequential (ms)`,
        value: p50,
        baseline: r50,
        target: '≤ 50',
        ok: p50 <= 50,
      },
      {
        group: 'native',
        metric: `API → ALLOCATED p50 vs bare bwrap + cgroup by hand (ms)`,
        value: p50,
        baseline: r50,
        target: 'ratio ≤ 1.3',
        ok: p50 / r50 <= 1.3,
      },
      {
        group: 'native',
        metric: `API: ${PARALLEL} at once → ${allocated} ALLOCATED, wall (ms); raw: ${rawOk} started`,
        value: shoalPar,
        baseline: rawPar,
        target: `all ${PARALLEL} ALLOCATED`,
        ok: allocated === PARALLEL,
      },
    ];
  } finally {
    if (s) {
      await release(s, uids);
      s.close();
    }
    await node?.stop();
    await node?.cleanup();
    await removeRaws().catch(() => undefined);
    await cg.removeParent();
    rmSync(dir, { recursive: true, force: true });
  }
}
