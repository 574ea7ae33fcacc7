// Core benchmark on the `test` driver, through a real node over HTTPS and the event stream:
// - create→ALLOCATED latency, one application at a time on an idle node (p50 ≤ 5 ms, p99 ≤ 25 ms),
//   beside the raw backend (the test driver's own allocate, called in-process);
// - a burst of 2,000 applications on a node with room for 500 at a time, each deallocated as soon
//   as it is ALLOCATED: all reach DEALLOCATED at ≥ 500 apps/s, never more than 500 at once, none lost;
// - idle node RSS ≤ 120 MB.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { testDriverFactory } from '../src/drivers/test/index.js';
import type { Application } from '../src/model/index.js';
import { startNodeProcess } from '../test/helpers/node-process.js';
import { openSession, percentile } from './lib/api-session.js';
import type { BenchRow } from './lib/report.js';

const SEQUENTIAL = 300;
const BURST = 2000;
const ROOM = 500;
const SEQ_BUDGET_MS = 60_000;
const BURST_BUDGET_MS = 120_000;

async function rawDriverLatency(n: number): Promise<number[]> {
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
  await driver.prepare('{}');
  const def = JSON.stringify({ options: {}, requirements: { cpu: 1, ram: 1 } });
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      const r = await driver.allocate(def, { K: 'v' });
      out.push(performance.now() - t0);
      await driver.deallocate(r.hwaddr);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return out.sort((a, b) => a - b);
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const node = await startNodeProcess({
    tls: true,
    config: {
      capacity: { cpu: ROOM, ram: ROOM },
      drivers: { test: { cpu: ROOM, ram: ROOM } },
      log_level: 'warn',
    },
  });
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = await rssMb(node.proc.pid!);
    rows.push({ group: 'core', metric: 'idle node RSS (MB)', value: idleRss, target: '≤ 120', ok: idleRss <= 120 });

    const s = await openSession(node.apiUrl, node.token, node.ca);
    try {
      await s.request('POST', '/api/v1/labels', {
        name: 'bench',
        definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }],
        metadata: { K: 'v' },
      });

      // 1. one at a time
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
        target: '≤ 5',
        ok: p50 <= 5 && lat.length === SEQUENTIAL,
      });
      rows.push({
        group: 'core',
        metric: `create→ALLOCATED p99 (ms, n=${lat.length})`,
        value: p99,
        baseline: percentile(raw, 99),
        target: '≤ 25',
        ok: p99 <= 25 && lat.length === SEQUENTIAL,
      });

      // 2. burst
      let live = 0;
      let maxLive = 0;
      const allocated = new Set<string>();
      const done = new Set<string>();
      const errors: string[] = [];
      const mine = new Set<string>();
      const pendingDealloc: Promise<unknown>[] = [];
      let finish: () => void = () => undefined;
      const allDone = new Promise<void>((r) => (finish = r));
      s.onEvent((e) => {
        if (e.status === 'ALLOCATED' && !allocated.has(e.application_uid)) {
          allocated.add(e.application_uid);
          live++;
          maxLive = Math.max(maxLive, live);
          pendingDealloc.push(
            s.request('POST', `/api/v1/applications/${e.application_uid}/deallocate`).catch((err: Error) => errors.push(err.message)),
          );
        } else if (e.status === 'DEALLOCATED' || e.status === 'ERROR') {
          if (allocated.has(e.application_uid) && !done.has(e.application_uid)) live--;
          if (e.status === 'ERROR') errors.push(`${e.application_uid}: ${e.description}`);
          done.add(e.application_uid);
          if (mine.size === BURST && [...mine].every((u) => done.has(u))) finish();
        }
      });
      const t0 = performance.now();
      let next = 0;
      const creators = Array.from({ length: 48 }, async () => {
        while (next < BURST && performance.now() - t0 < BURST_BUDGET_MS) {
          next++;
          const app = await s.request<Application>('POST', '/api/v1/applications', { label: 'bench' });
          mine.add(app.uid);
        }
      });
      await Promise.all(creators);
      if (mine.size === BURST && [...mine].every((u) => done.has(u))) finish();
      const remaining = BURST_BUDGET_MS - (performance.now() - t0);
      await Promise.race([allDone, new Promise((r) => setTimeout(r, Math.max(0, remaining)))]);
      const elapsed = (performance.now() - t0) / 1000;
      await Promise.allSettled(pendingDealloc);
      const finished = [...mine].filter((u) => done.has(u)).length;
      const rate = finished / elapsed;
      rows.push({
        group: 'core',
        metric: `burst ${BURST} apps, room ${ROOM}: apps/s to DEALLOCATED`,
        value: rate,
        target: '≥ 500',
        ok: rate >= 500 && finished === BURST && errors.length === 0,
      });
      rows.push({
        group: 'core',
        metric: 'burst: most ALLOCATED at once (events)',
        value: maxLive,
        target: `≤ ${ROOM}`,
        ok: maxLive <= ROOM && maxLive > 0,
      });
      rows.push({
        group: 'core',
        metric: 'burst: lost or failed applications',
        value: BURST - finished + errors.length,
        target: '= 0',
        ok: finished === BURST && errors.length === 0,
      });
      if (errors.length) console.error(`core burst errors (first 5): ${errors.slice(0, 5).join('; ')}`);
    } finally {
      s.close();
    }
  } finally {
    await node.stop();
    await node.cleanup();
  }
  return rows;
}
