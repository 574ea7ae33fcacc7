// Core benchmark on the `test` driver (no delays), through real nodes over HTTPS and the event stream:
// - create→ALLOCATED latency, one application at a time on an idle node (p50 ≤ 2 ms, p99 ≤ 25 ms),
//   beside the raw backend (the test driver's own allocate, called in-process);
// - a burst of 5,000 applications on a node with room for 500 at a time, each deallocated as soon
//   as it is ALLOCATED, on SQLite and on PostgreSQL: all reach DEALLOCATED at ≥ 2,000 lifecycles/s
//   (SQLite) and ≥ 1,000/s (PostgreSQL), beside the raw backend's own allocate+deallocate rate at
//   the same concurrency; checked from the event stream: never more than 500 ALLOCATED at once,
//   none lost or failed, every application's events complete and in order, elections in FIFO order;
// - idle node RSS ≤ 120 MB.
// SHOAL_BENCH_BURST=N changes the burst size, SHOAL_BENCH_DB=sqlite|postgres runs the burst on one
// database only, SHOAL_BENCH_NODE_ARGS gives the nodes node flags (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { testDriverFactory } from '../src/drivers/test/index.js';
import type { Application, StateEvent } from '../src/model/index.js';
import { createTestDatabase, type TestDialect } from '../src/store/testing/test-databases.js';
import { startNodeProcess } from '../test/helpers/node-process.js';
import { openSession, percentile, type Session } from './lib/api-session.js';
import type { BenchRow } from './lib/report.js';

const SEQUENTIAL = 300;
const BURST = Number(process.env.SHOAL_BENCH_BURST ?? 5000);
const ROOM = 500;
const CREATORS = 48;
const NODE_ARGS = process.env.SHOAL_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const SEQ_BUDGET_MS = 60_000;
const BURST_BUDGET_MS = 120_000;
const BURST_TARGET: Record<TestDialect, number> = { sqlite: 2000, postgres: 1000 };
const LIFECYCLE: readonly string[] = ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'];

type TestDriver = ReturnType<typeof testDriverFactory.create>;

async function withRawDriver<T>(fn: (driver: TestDriver) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-raw-'));
  const noop = (): void => undefined;
  const log = { debug: noop, info: noop, warn: noop, error: noop };
  const driver = testDriverFactory.create({
    instance: 'test',
    nodeName: 'bench',
    dataDir: dir,
    log,
    meta: { address: '127.0.0.1:0', listen: async () => async () => undefined, handlerFor: () => () => undefined },
  });
  try {
    await driver.prepare('{}');
    return await fn(driver);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const DEF = JSON.stringify({ options: {}, requirements: { cpu: 1, ram: 1 } });

/** The raw backend's allocate latency, one at a time (ms, sorted). */
function rawDriverLatency(n: number): Promise<number[]> {
  return withRawDriver(async (driver) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await driver.allocate(DEF, { K: 'v' });
      out.push(performance.now() - t0);
      await driver.deallocate(r.hwaddr);
    }
    return out.sort((a, b) => a - b);
  });
}

/** The raw backend's allocate+deallocate rate with `room` at once, over `n` lifecycles (per second). */
function rawDriverRate(n: number, room: number): Promise<number> {
  return withRawDriver(async (driver) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: room }, async () => {
        while (next < n) {
          next++;
          const r = await driver.allocate(DEF, { K: 'v' });
          await driver.deallocate(r.hwaddr);
        }
      }),
    );
    return n / ((performance.now() - t0) / 1000);
  });
}

/** CPU time (user + system, ms) the process `pid` has used so far. */
async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

function nodeConfig(): Record<string, unknown> {
  return { capacity: { cpu: ROOM, ram: ROOM }, drivers: { test: { cpu: ROOM, ram: ROOM } }, log_level: 'warn' };
}

async function createLabel(s: Session): Promise<void> {
  await s.request('POST', '/api/v1/labels', {
    name: 'bench',
    definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }],
    metadata: { K: 'v' },
  });
}

/** What the event stream showed of a burst. */
interface BurstOutcome {
  rate: number;
  finished: number;
  maxLive: number;
  errors: string[];
  /** applications whose events were not exactly NEW, ELECTED, ALLOCATED, DEALLOCATE, DEALLOCATED with rising ids */
  incomplete: number;
  /** ELECTED events out of the order of the NEW events */
  outOfFifo: number;
  /** deallocate request → DEALLOCATED event (ms, sorted) */
  deallocMs: number[];
}

/**
 * Creators (CREATORS at once) on `s`; each application is deallocated as soon as the stream shows
 * it ALLOCATED, through `ender` (its own connections: jobs ending are not queued behind new ones).
 */
async function burst(s: Session, ender: Session): Promise<BurstOutcome> {
  let live = 0;
  let maxLive = 0;
  const trail = new Map<string, StateEvent[]>();
  const done = new Set<string>();
  const errors: string[] = [];
  const mine = new Set<string>();
  const newOrder: string[] = [];
  const electedOrder: string[] = [];
  const deallocAt = new Map<string, number>();
  const deallocMs: number[] = [];
  const pendingDealloc: Promise<unknown>[] = [];
  let finish: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (finish = r));
  const allFinished = (): boolean => mine.size === BURST && [...mine].every((u) => done.has(u));
  s.onEvent((e) => {
    const uid = e.application_uid;
    let t = trail.get(uid);
    if (!t) trail.set(uid, (t = []));
    t.push(e);
    if (e.status === 'NEW') newOrder.push(uid);
    else if (e.status === 'ELECTED') electedOrder.push(uid);
    else if (e.status === 'ALLOCATED' && t.filter((x) => x.status === 'ALLOCATED').length === 1) {
      live++;
      maxLive = Math.max(maxLive, live);
      deallocAt.set(uid, performance.now());
      pendingDealloc.push(ender.request('POST', `/api/v1/applications/${uid}/deallocate`).catch((err: Error) => errors.push(err.message)));
    } else if (e.status === 'DEALLOCATED' || e.status === 'ERROR') {
      if (t.some((x) => x.status === 'ALLOCATED') && !done.has(uid)) live--;
      if (e.status === 'ERROR') errors.push(`${uid}: ${e.description}`);
      const at = deallocAt.get(uid);
      if (at !== undefined) deallocMs.push(performance.now() - at);
      done.add(uid);
      if (allFinished()) finish();
    }
  });
  const t0 = performance.now();
  let next = 0;
  const creators = Array.from({ length: CREATORS }, async () => {
    while (next < BURST && performance.now() - t0 < BURST_BUDGET_MS) {
      next++;
      const app = await s.request<Application>('POST', '/api/v1/applications', { label: 'bench' });
      mine.add(app.uid);
    }
  });
  await Promise.all(creators);
  if (allFinished()) finish();
  const remaining = BURST_BUDGET_MS - (performance.now() - t0);
  await Promise.race([allDone, new Promise((r) => setTimeout(r, Math.max(0, remaining)))]);
  const elapsed = (performance.now() - t0) / 1000;
  await Promise.allSettled(pendingDealloc);
  const finished = [...mine].filter((u) => done.has(u)).length;
  let incomplete = 0;
  for (const uid of mine) {
    const t = trail.get(uid) ?? [];
    const rising = t.every((e, i) => i === 0 || BigInt(e.id) > BigInt(t[i - 1]!.id));
    if (!rising || t.map((e) => e.status).join() !== LIFECYCLE.join()) incomplete++;
  }
  const mineNew = newOrder.filter((u) => mine.has(u));
  const mineElected = electedOrder.filter((u) => mine.has(u));
  let outOfFifo = Math.abs(mineNew.length - mineElected.length);
  for (let i = 0; i < Math.min(mineNew.length, mineElected.length); i++) if (mineNew[i] !== mineElected[i]) outOfFifo++;
  return { rate: finished / elapsed, finished, maxLive, errors, incomplete, outOfFifo, deallocMs: deallocMs.sort((a, b) => a - b) };
}

async function burstOn(dialect: TestDialect, rawRate: number): Promise<BenchRow[]> {
  const group = `core/${dialect}`;
  const db = dialect === 'postgres' ? await createTestDatabase('postgres') : undefined;
  try {
    const node = await startNodeProcess({ tls: true, config: nodeConfig(), execArgv: NODE_ARGS, ...(db ? { db: db.url } : {}) });
    try {
      const s = await openSession(node.apiUrl, node.token, node.ca);
      const ender = await openSession(node.apiUrl, node.token, node.ca, 64, false);
      let o: BurstOutcome;
      const cpu0 = await cpuMs(node.proc.pid!);
      try {
        await createLabel(s);
        o = await burst(s, ender);
      } finally {
        s.close();
        ender.close();
      }
      const cpuPerLifecycle = ((await cpuMs(node.proc.pid!)) - cpu0) / Math.max(1, o.finished);
      if (o.errors.length) console.error(`${group} burst errors (first 5): ${o.errors.slice(0, 5).join('; ')}`);
      const target = BURST_TARGET[dialect];
      const complete = o.finished === BURST && o.errors.length === 0;
      return [
        {
          group,
          metric: `burst ${BURST} apps, room ${ROOM}: lifecycles/s to DEALLOCATED`,
          value: o.rate,
          baseline: rawRate,
          target: `≥ ${target}`,
          ok: o.rate >= target && complete,
        },
        {
          group,
          metric: 'burst: node CPU per lifecycle (ms, user+sys)',
          value: cpuPerLifecycle,
          target: '(informative)',
          ok: Number.isFinite(cpuPerLifecycle),
        },
        {
          group,
          metric: 'burst: most ALLOCATED at once (events)',
          value: o.maxLive,
          target: `≤ ${ROOM}`,
          ok: o.maxLive <= ROOM && o.maxLive > 0,
        },
        {
          group,
          metric: `burst: failed, lost or unfinished in ${BURST_BUDGET_MS / 1000} s`,
          value: BURST - o.finished + o.errors.length,
          target: '= 0',
          ok: complete,
        },
        { group, metric: 'burst: incomplete or unordered event trails', value: o.incomplete, target: '= 0', ok: o.incomplete === 0 },
        { group, metric: 'burst: elections out of FIFO order', value: o.outOfFifo, target: '= 0', ok: o.outOfFifo === 0 },
        {
          group,
          metric: `burst: deallocate→DEALLOCATED p99 (ms, n=${o.deallocMs.length})`,
          value: percentile(o.deallocMs, 99),
          target: '≤ 1000',
          ok: percentile(o.deallocMs, 99) <= 1000,
        },
      ];
    } finally {
      await node.stop();
      await node.cleanup();
    }
  } finally {
    await db?.drop();
  }
}

async function idleNode(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const node = await startNodeProcess({ tls: true, config: nodeConfig() });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = await rssMb(node.proc.pid!);
    rows.push({ group: 'core', metric: 'idle node RSS (MB)', value: idleRss, target: '≤ 120', ok: idleRss <= 120 });
    const s = await openSession(node.apiUrl, node.token, node.ca);
    try {
      await createLabel(s);
      const lat: number[] = [];
      const seqDeadline = Date.now() + SEQ_BUDGET_MS;
      for (let i = 0; i < SEQUENTIAL && Date.now() < seqDeadline; i++) {
        const t0 = performance.now();
        const app = await s.request<Application>('POST', '/api/v1/applications', { label: 'bench' });
        await s.waitFor(app.uid, 'ALLOCATED');
        lat.push(performance.now() - t0);
        await s.request('POST', `/api/v1/applications/${app.uid}/deallocate`);
        await s.waitFor(app.uid, 'DEALLOCATED');
      }
      lat.sort((a, b) => a - b);
      const raw = await rawDriverLatency(lat.length);
      const p50 = percentile(lat, 50);
      const p99 = percentile(lat, 99);
      rows.push({
        group: 'core',
        metric: `create→ALLOCATED p50 (ms, n=${lat.length})`,
        value: p50,
        baseline: percentile(raw, 50),
        target: '≤ 2',
        ok: p50 <= 2 && lat.length === SEQUENTIAL,
      });
      rows.push({
        group: 'core',
        metric: `create→ALLOCATED p99 (ms, n=${lat.length})`,
        value: p99,
        baseline: percentile(raw, 99),
        target: '≤ 25',
        ok: p99 <= 25 && lat.length === SEQUENTIAL,
      });
    } finally {
      s.close();
    }
  } finally {
    await node.stop();
    await node.cleanup();
  }
  return rows;
}

export async function run(): Promise<BenchRow[]> {
  const only = process.env.SHOAL_BENCH_DB;
  const rows = only ? [] : await idleNode();
  const rawRate = await rawDriverRate(BURST, ROOM);
  for (const dialect of ['sqlite', 'postgres'] as const) {
    if (only && only !== dialect) continue;
    rows.push(...(await burstOn(dialect, rawRate)));
  }
  return rows;
}
