// Fault: the database restarts in the middle of a burst. Two `shoal serve` processes share a
// PostgreSQL of this test's own (never the machine's shared one) which is restarted (`pg_ctl
// restart -m fast`: every connection cut) while applications are being created, allocated and
// deallocated. The nodes reconnect by themselves; every application that exists ends DEALLOCATED,
// none was allocated twice, no resource is left on either host.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ShoalClient } from '../src/client/index.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { startPrivatePostgres, type PrivatePostgres } from './helpers/private-postgres.js';

const BURST = 120;
const WORKERS = 8;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** retries `fn` while the database is away (bounded: 300 tries, 100 ms apart) */
async function retried<T>(what: string, fn: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < 300; i++) {
    try {
      return await fn();
    } catch (err) {
      last = err;
      await sleep(100);
    }
  }
  throw new Error(`${what}: ${(last as Error).message}`);
}

describe('fault: PostgreSQL restarted mid-burst', { timeout: 300_000 }, () => {
  let pg: PrivatePostgres | undefined;
  const nodes: NodeProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const n of nodes) await n.cleanup();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await pg?.destroy();
  });

  it('nodes reconnect; nothing is lost or allocated twice', async () => {
    pg = await startPrivatePostgres();
    const config = {
      capacity: { cpu: 8, ram: 8 },
      drivers: { test: { cpu: 8, ram: 8, delay_allocate: 20 } },
      heartbeat: '200ms',
      node_dead_after: '3s',
      node_lost_after: '10m',
    };
    for (const name of ['pa', 'pb']) {
      const dataDir = await mkdtemp(join(tmpdir(), `shoal-fault-pg-${name}-`));
      dirs.push(dataDir);
      nodes.push(await startNodeProcess({ dataDir, name, db: pg.url, config }));
    }
    const token = nodes.find((n) => n.token.length > 0)!.token;
    const clients = nodes.map((n) => new ShoalClient({ url: n.apiUrl, token }));
    const a = clients[0]!;
    await a.createLabel({ name: 'burst', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });

    const acknowledged: string[] = [];
    let refusedCreates = 0;
    let next = 0;
    let restarted: Promise<void> | undefined;
    const worker = async (w: number) => {
      const c = clients[w % clients.length]!;
      while (next < BURST) {
        const i = next++;
        if (i === BURST / 4) restarted = pg!.restart(); // a quarter in: the database goes away and comes back
        let uid: string;
        try {
          uid = (await c.createApplication({ label: 'burst', metadata: { JOB: String(i) } })).uid;
        } catch {
          refusedCreates++; // refused while the database was away (it may still have been committed: checked below)
          continue;
        }
        acknowledged.push(uid);
        await retried(`${uid} ALLOCATED`, async () => {
          const s = await c.getState(uid);
          if (s.status !== 'ALLOCATED') throw new Error(`still ${s.status}`);
        });
        await retried(`deallocate ${uid}`, () => c.deallocate(uid));
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
    assert.ok(restarted, 'the restart happened during the burst');
    await restarted;

    // every application in the database — acknowledged or not — ends, deallocated once
    const all = await retried('list applications', async () => {
      const out = [];
      for await (const app of a.all((p) => a.listApplications(p))) out.push(app);
      return out;
    });
    for (const uid of acknowledged)
      assert.ok(
        all.some((x) => x.uid === uid),
        `acknowledged ${uid} is in the list`,
      );
    assert.ok(all.length >= acknowledged.length && all.length <= BURST, `${all.length} applications for ${BURST} creates`);
    for (const app of all) {
      await retried(`deallocate ${app.uid}`, async () => {
        const s = await a.getState(app.uid);
        if (s.status === 'ALLOCATED') await a.deallocate(app.uid);
        if (s.status !== 'DEALLOCATED') throw new Error(`still ${s.status}`);
      });
      const states = await a.listStates(app.uid);
      assert.equal(
        states.filter((s) => s.status === 'ALLOCATED').length,
        1,
        `${app.uid} allocated exactly once: ${states.map((s) => s.status).join(',')}`,
      );
      assert.equal(states.at(-1)?.status, 'DEALLOCATED');
    }
    for (const n of nodes) {
      const files = (await readdir(join(n.dataDir, 'drivers', 'test', 'resources'))).filter((f) => f.endsWith('.json'));
      assert.deepEqual(files, [], 'nothing left on the host');
    }
    // both nodes are members again and take new work through either
    const listed = await a.listNodes();
    assert.deepEqual(
      listed.map((n) => [n.name, n.alive, n.lost_at]),
      [
        ['pa', true, undefined],
        ['pb', true, undefined],
      ],
    );
    for (const c of clients) {
      const uid = (await c.createApplication({ label: 'burst' })).uid;
      await retried(`${uid} ALLOCATED after the restart`, async () => {
        if ((await c.getState(uid)).status !== 'ALLOCATED') throw new Error('not yet');
      });
      await c.deallocate(uid);
    }
    process.stdout.write(
      `# ${acknowledged.length} acknowledged, ${refusedCreates} refused while the database restarted, ${all.length} in the database\n`,
    );
  });
});
