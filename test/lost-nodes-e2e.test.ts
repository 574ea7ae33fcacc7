// Three `shoal serve` processes on one PostgreSQL, with short node marks (dead after 1 s, lost after
// 3 s of silence). Two of them run with their clocks skewed by ten minutes (libfaketime): heartbeats
// are stamped and silence judged by the database's clock, so neither is ever declared lost nor
// declares the others lost. A node frozen with SIGSTOP is declared lost (its work ends, its capacity
// leaves the totals); thawed, it removes what is left on its host before it takes new work. A killed
// node is forgotten with `shoal node forget`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ShoalClient } from '../src/client/index.js';
import { createTestDatabase, type TestDatabase } from '../src/store/testing/index.js';
import { SHOAL_BIN, startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

const run = promisify(execFile);
const FAKETIME_LIBS = ['/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1'];
const FAKETIME_LIB = FAKETIME_LIBS.find((p) => existsSync(p));
const TEN_MINUTES = 600_000;

/** env that shifts a process's wall clock (not its monotonic clock) by `offset`, e.g. "-10m" */
function skewedClock(offset: string): NodeJS.ProcessEnv {
  if (!FAKETIME_LIB)
    throw new Error(`libfaketime not found (${FAKETIME_LIBS.join(', ')}): apt-get install faketime (scripts/setup-host.sh does)`);
  return { LD_PRELOAD: FAKETIME_LIB, FAKETIME: offset, FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_NO_CACHE: '1' };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** the test driver's resource files on a node's host */
async function hostResources(node: NodeProcess): Promise<string[]> {
  return (await readdir(join(node.dataDir, 'drivers', 'test', 'resources')).catch(() => [])).filter((f) => f.endsWith('.json')).sort();
}

describe('lost nodes: three nodes on one PostgreSQL', { timeout: 240_000 }, () => {
  let db: TestDatabase | undefined;
  const nodes: NodeProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const n of nodes) {
      if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGCONT');
      await n.cleanup();
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await db?.drop();
  });

  it('skewed clocks declare nobody lost; a frozen node is lost and cleans its host when thawed; a killed one is forgotten', async () => {
    db = await createTestDatabase('postgres');
    const config = {
      capacity: { cpu: 4, ram: 4 },
      drivers: { test: { cpu: 4, ram: 4 } },
      heartbeat: '200ms',
      node_dead_after: '1s',
      // the lost mark is well past the dead mark: the forget below must land between the two, and
      // spawning the CLI on a loaded machine can take over a second per try
      node_lost_after: '8s',
    };
    const start = async (name: string, env: NodeJS.ProcessEnv = {}) => {
      const dataDir = await mkdtemp(join(tmpdir(), `shoal-lost-${name}-`));
      dirs.push(dataDir);
      const n = await startNodeProcess({ dataDir, name, db: db!.url, config, env });
      nodes.push(n);
      return n;
    };
    const n1 = await start('n1');
    const behind = await start('behind', skewedClock('-10m'));
    const ahead = await start('ahead', skewedClock('+10m'));
    const token = nodes.find((n) => n.token.length > 0)!.token;
    const c1 = new ShoalClient({ url: n1.apiUrl, token });
    const cBehind = new ShoalClient({ url: behind.apiUrl, token });
    const cAhead = new ShoalClient({ url: ahead.apiUrl, token });
    // the clocks really are skewed: each node's own start time is in its own time
    const started = async (c: ShoalClient) => Date.parse((await c.thisNode()).started_at);
    assert.ok((await started(cBehind)) < Date.now() - TEN_MINUTES / 2, 'behind runs ten minutes late');
    assert.ok((await started(cAhead)) > Date.now() + TEN_MINUTES / 2, 'ahead runs ten minutes early');

    await c1.createLabel({ name: 'l', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    // only `behind` takes work for now
    await c1.setMaintenance(true);
    await cAhead.setMaintenance(true);
    const uids: string[] = [];
    for (let i = 0; i < 3; i++) uids.push((await c1.createApplication({ label: 'l' })).uid);
    for (const u of uids) await waitForState(c1, u, ['ALLOCATED'], 30_000);
    for (const u of uids) assert.equal((await c1.getResource(u)).node, 'behind');

    // one and a half lost marks pass: every node answers, nobody is declared lost, the work stays
    await sleep(12_000);
    for (const c of [c1, cBehind, cAhead]) {
      for (const n of await c.listNodes()) {
        assert.equal(n.lost_at, undefined, `${n.name} declared lost (seen through ${(await c.thisNode()).name})`);
        assert.equal(n.alive, true, `${n.name} alive`);
      }
    }
    for (const u of uids) assert.equal((await c1.getState(u)).status, 'ALLOCATED');
    assert.equal((await hostResources(behind)).length, 3);

    // `behind` freezes; one of its applications is deallocated through n1 meanwhile
    behind.proc.kill('SIGSTOP');
    await c1.deallocate(uids[0]!);
    const dealloc = await waitForState(c1, uids[0]!, ['DEALLOCATED'], 30_000);
    assert.match(dealloc.description, /node behind lost at /);
    for (const u of uids.slice(1)) assert.match((await waitForState(c1, u, ['ERROR'], 30_000)).description, /node behind lost at /);
    const lost = (await c1.listNodes()).find((n) => n.name === 'behind')!;
    assert.ok(lost.lost_at !== undefined && !lost.alive);
    assert.deepEqual(lost.used, { cpu: 0, ram: 0 }, 'its capacity left the totals');
    assert.equal((await hostResources(behind)).length, 3, 'its host still has them while it is frozen');

    // thawed: it sees it was declared lost, removes what is left, registers again, takes new work
    behind.proc.kill('SIGCONT');
    const deadline = Date.now() + 30_000;
    while ((await hostResources(behind)).length > 0 && Date.now() < deadline) await sleep(100);
    assert.deepEqual(await hostResources(behind), []);
    let back = (await c1.listNodes()).find((n) => n.name === 'behind')!;
    for (let i = 0; i < 300 && (back.lost_at !== undefined || !back.alive); i++) {
      await sleep(100);
      back = (await c1.listNodes()).find((n) => n.name === 'behind')!;
    }
    assert.equal(back.lost_at, undefined);
    assert.equal(back.alive, true);
    const next = (await c1.createApplication({ label: 'l' })).uid;
    await waitForState(c1, next, ['ALLOCATED'], 30_000);
    assert.equal((await c1.getResource(next)).node, 'behind');
    assert.equal((await hostResources(behind)).length, 1);

    // `ahead` takes one, is killed, and an admin forgets it (before the lost mark would)
    await cAhead.setMaintenance(false);
    await cBehind.setMaintenance(true);
    const onAhead = (await c1.createApplication({ label: 'l' })).uid;
    await waitForState(c1, onAhead, ['ALLOCATED'], 30_000);
    assert.equal((await c1.getResource(onAhead)).node, 'ahead');
    await ahead.kill();
    const cli = (...args: string[]) =>
      run(process.execPath, [SHOAL_BIN, '--url', n1.apiUrl, '--token', token, ...args], { timeout: 30_000, env: { ...process.env } });
    let out = '';
    for (let i = 0; i < 50; i++) {
      // refused while `ahead` still counts as answering (its last heartbeat is under node_dead_after old)
      const r = await cli('node', 'forget', 'ahead').catch((e: { stderr?: string }) => ({ stdout: '', stderr: e.stderr ?? '' }));
      if (r.stdout !== '') {
        out = r.stdout;
        break;
      }
      assert.match(r.stderr, /still answers/);
      await sleep(200);
    }
    assert.match(out, /node ahead forgotten at .*1 allocated → ERROR/);
    const forgotten = await c1.getState(onAhead);
    assert.equal(forgotten.status, 'ERROR');
    assert.match(forgotten.description, /node ahead lost at .*forgotten by an admin/);
    assert.deepEqual((await c1.listNodes()).map((n) => n.name).sort(), ['behind', 'n1']);
  });
});
