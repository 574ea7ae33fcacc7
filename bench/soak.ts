// `npm run bench:soak`: a bounded soak of one real node (SQLite, the `test` driver, HTTP on
// loopback). Mixed load for SOAK_MINUTES (default 20): several users, each with labels of its own,
// creating applications, waiting for ALLOCATED, reading lists and states, deallocating; an event
// subscriber per user plus an admin one (and a replay from an old id now and then). Retention is
// set short (SOAK_RETENTION, default 1m) when the node knows the `retention` setting.
//
// Every sample (SOAK_SAMPLE_SECONDS, default duration/40, at least 5 s) prints the node's RSS, open
// fds, database and WAL size. Verdict, per metric: the first quarter of the run is warm-up; the rest
// is cut in thirds A, B, C. A metric "keeps growing once steady" when the median of C is above the
// median of A by more than its tolerance AND above the median of B (still rising at the end, not a
// step during warm-up). Exits non-zero when any metric keeps growing, or an application is lost.
// Traffic goes to the node on 127.0.0.1 only; every loop is bounded by the deadline and a count.
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Application, PageOf, UserCreated } from '../src/model/index.js';
import { ShoalClient } from '../src/client/index.js';
import { ConfigError, loadConfig } from '../src/main/config.js';
import { startNodeProcess } from '../test/helpers/node-process.js';
import { median, openSession, type Session } from './lib/api-session.js';
import { formatTable, type BenchRow } from './lib/report.js';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 20);
const DURATION_MS = MINUTES * 60_000;
const SAMPLE_MS = Number(process.env.SOAK_SAMPLE_SECONDS ?? Math.max(5, (MINUTES * 60) / 40)) * 1000;
const RETENTION = process.env.SOAK_RETENTION ?? '1m';
const USERS = 4;
const LABELS_PER_USER = 2;
const WORKERS = 8;
/** lifecycles per second over all workers at most (the machine is shared) */
const RATE = Number(process.env.SOAK_RATE ?? 40);
const MAX_LIFECYCLES = 10_000_000;
const MB = 1024 * 1024;

interface Sample {
  t: number;
  rssMb: number;
  fds: number;
  dbMb: number;
  walMb: number;
}

const METRICS: Array<{ key: keyof Omit<Sample, 't'>; name: string; relative: number; absolute: number }> = [
  { key: 'rssMb', name: 'RSS (MB)', relative: 0.1, absolute: 10 },
  { key: 'fds', name: 'open fds', relative: 0.1, absolute: 10 },
  { key: 'dbMb', name: 'database (MB)', relative: 0.1, absolute: 1 },
  { key: 'walMb', name: 'WAL (MB)', relative: 0.25, absolute: 8 },
];

async function sizeMb(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size / MB,
    () => 0,
  );
}

async function sample(pid: number, dataDir: string, t0: number): Promise<Sample> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return {
    t: (Date.now() - t0) / 1000,
    rssMb: rss,
    fds,
    dbMb: await sizeMb(join(dataDir, 'shoal.db')),
    walMb: await sizeMb(join(dataDir, 'shoal.db-wal')),
  };
}

/** Whether this build's node config knows `retention` (another part of the operations work adds it). */
async function retentionSupported(dir: string): Promise<boolean> {
  const path = join(dir, 'probe.yml');
  await writeFile(path, `retention: ${RETENTION}\n`);
  try {
    await loadConfig({ configPath: path, dataDir: dir }, {});
    return true;
  } catch (err) {
    if (err instanceof ConfigError && /unknown setting/.test(err.message)) return false;
    throw err;
  } finally {
    await rm(path, { force: true });
  }
}

/** "keeps growing once steady" (see the header) for one metric over the samples */
function keepsGrowing(values: number[], relative: number, absolute: number): { growing: boolean; a: number; b: number; c: number } {
  const steady = values.slice(Math.floor(values.length / 4));
  const third = Math.floor(steady.length / 3);
  if (third < 1) return { growing: false, a: NaN, b: NaN, c: NaN };
  const a = median(steady.slice(0, third));
  const b = median(steady.slice(third, 2 * third));
  const c = median(steady.slice(2 * third));
  return { growing: c > a * (1 + relative) + absolute && c > b, a, b, c };
}

async function main(): Promise<number> {
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-soak-'));
  const withRetention = await retentionSupported(dataDir);
  if (!withRetention) console.error('soak: this build has no `retention` setting: nothing is ever deleted, the database will grow');
  const node = await startNodeProcess({
    dataDir,
    config: {
      capacity: { cpu: 256, ram: 256 },
      drivers: { test: { cpu: 256, ram: 256 } },
      log_level: 'warn',
      ...(withRetention ? { retention: RETENTION } : {}),
    },
  });
  const sessions: Session[] = [];
  let lost = 0;
  let lifecycles = 0;
  let replays = 0;
  let events = 0;
  try {
    const admin = await openSession(node.apiUrl, node.token, node.ca, 16);
    sessions.push(admin);
    admin.onEvent(() => events++);
    const users: Array<{ s: Session; labels: string[] }> = [];
    const suffix = Math.random().toString(36).slice(2, 8);
    for (let u = 0; u < USERS; u++) {
      const created = await admin.request<UserCreated>('POST', '/api/v1/users', { name: `soak-${suffix}-${u}`, role: 'user' });
      const s = await openSession(node.apiUrl, created.token, node.ca, 8);
      sessions.push(s);
      const labels: string[] = [];
      for (let l = 0; l < LABELS_PER_USER; l++) {
        const name = `soak-${suffix}-${u}-${l}`;
        await s.request('POST', '/api/v1/labels', {
          name,
          definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1 + l, ram: 1 } }],
          metadata: { USER: String(u), LABEL: String(l), BLOB: 'x'.repeat(200 * (l + 1)) },
        });
        labels.push(name);
      }
      users.push({ s, labels });
    }

    const t0 = Date.now();
    const deadline = t0 + DURATION_MS;
    const samples: Sample[] = [];
    console.log(
      `soak: ${MINUTES} min, ${USERS} users × ${LABELS_PER_USER} labels, ${WORKERS} workers ≤ ${RATE}/s, retention ${withRetention ? RETENTION : 'none'}`,
    );
    console.log('    t(s)  lifecycles   RSS MB  fds  db MB  WAL MB');
    const sampler = (async () => {
      for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
        const s = await sample(node.proc.pid!, dataDir, t0);
        samples.push(s);
        console.log(
          `${s.t.toFixed(0).padStart(8)}  ${String(lifecycles).padStart(10)}  ${s.rssMb.toFixed(1).padStart(7)}  ${String(s.fds).padStart(3)}  ${s.dbMb.toFixed(2).padStart(5)}  ${s.walMb.toFixed(2).padStart(6)}`,
        );
        await new Promise((r) => setTimeout(r, Math.min(SAMPLE_MS, Math.max(0, deadline - Date.now()))));
      }
    })();

    const perWorkerGapMs = (WORKERS * 1000) / RATE;
    const worker = async (w: number) => {
      for (let i = 0; i < MAX_LIFECYCLES && Date.now() < deadline; i++) {
        const started = Date.now();
        const { s, labels } = users[(w + i) % USERS]!;
        const label = labels[i % labels.length]!;
        try {
          const app = await s.request<Application>('POST', '/api/v1/applications', { label, metadata: { JOB: `${w}-${i}` } });
          await s.waitFor(app.uid, 'ALLOCATED', 60_000);
          await s.request('GET', `/api/v1/applications/${app.uid}/state`);
          if (i % 5 === 0) await s.request<PageOf<Application>>('GET', '/api/v1/applications?limit=20');
          if (i % 17 === 0) await admin.request('GET', '/api/v1/nodes');
          await s.request('POST', `/api/v1/applications/${app.uid}/deallocate`);
          await s.waitFor(app.uid, 'DEALLOCATED', 60_000);
          lifecycles++;
        } catch (err) {
          lost++;
          console.error(`soak: worker ${w}: ${(err as Error).message}`);
          if (lost > 20) throw new Error('more than 20 failed lifecycles');
        }
        const gap = perWorkerGapMs - (Date.now() - started);
        if (gap > 0) await new Promise((r) => setTimeout(r, gap));
      }
    };
    // every minute a subscriber resumes from an id 2,000 events back (the real client, Last-Event-ID),
    // reads for at most 2 s or 5,000 events, and goes away
    const replayer = (async () => {
      const client = new ShoalClient({ url: node.apiUrl, token: node.token });
      let lastId = 0;
      for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
        await new Promise((r) => setTimeout(r, Math.min(60_000, Math.max(0, deadline - Date.now()))));
        if (Date.now() >= deadline) break;
        const stop = new AbortController();
        const timer = setTimeout(() => stop.abort(), 2_000);
        let n = 0;
        for await (const e of client.events({ lastEventId: String(Math.max(0, lastId - 2_000)), signal: stop.signal })) {
          lastId = Math.max(lastId, Number(e.id));
          if (++n >= 5_000) break;
        }
        clearTimeout(timer);
        if (n > 0) replays++;
      }
    })();
    await Promise.all([...Array.from({ length: WORKERS }, (_, w) => worker(w)), sampler, replayer]);

    const rows: BenchRow[] = [];
    let failed = false;
    for (const m of METRICS) {
      const v = keepsGrowing(
        samples.map((s) => s[m.key]),
        m.relative,
        m.absolute,
      );
      failed ||= v.growing;
      rows.push({
        group: 'soak',
        metric: `${m.name}: median of last third (first ${v.a.toFixed(1)}, middle ${v.b.toFixed(1)})`,
        value: v.c,
        target: `≤ first × ${1 + m.relative} + ${m.absolute}, or not rising`,
        ok: !v.growing,
      });
    }
    rows.push({ group: 'soak', metric: 'failed lifecycles', value: lost, target: '0', ok: lost === 0 });
    rows.push({
      group: 'soak',
      metric: `lifecycles (${events} events to the admin subscriber, ${replays} replays)`,
      value: lifecycles,
      target: '> 0',
      ok: lifecycles > 0,
    });
    console.log(formatTable(rows));
    return rows.every((r) => r.ok) && !failed ? 0 : 1;
  } finally {
    for (const s of sessions) s.close();
    await node.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  }
}

process.exit(await main());
