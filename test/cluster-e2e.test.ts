// Two `shoal serve` processes sharing one PostgreSQL (`--db postgres://…`): that is the whole
// cluster. Work spreads over both, neither runs more than it has, and a freed slot on either node
// wakes the waiting application at once (LISTEN/NOTIFY, no polling).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ShoalClient } from '../src/client/index.js';
import { createTestDatabase, type TestDatabase } from '../src/store/testing/index.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

describe('two nodes on one PostgreSQL', { timeout: 180_000 }, () => {
  let db: TestDatabase | undefined;
  const nodes: NodeProcess[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const n of nodes) await n.cleanup();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
    await db?.drop();
  });

  it('shares the work without double allocation or overbooking', async () => {
    db = await createTestDatabase('postgres');
    const config = { capacity: { cpu: 3, ram: 3 }, drivers: { test: { cpu: 3, ram: 3 } } };
    for (const name of ['n1', 'n2']) {
      const dataDir = await mkdtemp(join(tmpdir(), `shoal-cluster-${name}-`));
      dirs.push(dataDir);
      nodes.push(await startNodeProcess({ dataDir, name, db: db.url, config }));
    }
    // the first node created the admin; the second found it (one user table for the cluster)
    const tokenOwner = nodes.find((n) => n.token.length > 0)!;
    const a = new ShoalClient({ url: nodes[0]!.apiUrl, token: tokenOwner.token });
    const b = new ShoalClient({ url: nodes[1]!.apiUrl, token: tokenOwner.token });
    const seenNodes = (await a.listNodes()).map((n) => n.name).sort();
    assert.deepEqual(seenNodes, ['n1', 'n2']);

    await a.createLabel({ name: 'c', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    // 7 applications, asked through both nodes; room for 3 + 3
    const uids: string[] = [];
    for (let i = 0; i < 7; i++) uids.push((await (i % 2 ? b : a).createApplication({ label: 'c' })).uid);
    const deadline = Date.now() + 60_000;
    let allocated: string[] = [];
    while (Date.now() < deadline) {
      const states = await Promise.all(uids.map((u) => a.getState(u)));
      allocated = uids.filter((_, i) => states[i]!.status === 'ALLOCATED');
      if (allocated.length === 6) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(allocated.length, 6, 'both nodes filled up');
    const waiting = uids.find((u) => !allocated.includes(u))!;
    assert.equal((await a.getState(waiting)).status, 'NEW');

    const resources = await Promise.all(allocated.map((u) => b.getResource(u)));
    const perNode = new Map<string, number>();
    for (const r of resources) perNode.set(r.node, (perNode.get(r.node) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...perNode].sort()), { n1: 3, n2: 3 });
    assert.equal(new Set(resources.map((r) => r.hwaddr)).size, 6, 'six distinct resources');
    for (const n of await a.listNodes()) assert.ok(n.used.cpu <= n.capacity.cpu, `${n.name} within capacity`);

    // free one slot on n2: the waiting application is placed there
    const onN2 = resources.find((r) => r.node === 'n2')!;
    await a.deallocate(onN2.application_uid);
    await waitForState(a, waiting, ['ALLOCATED'], 30_000);
    assert.equal((await a.getResource(waiting)).node, 'n2');
    // the history shows exactly one election per application
    for (const u of uids) {
      const elected = (await a.listStates(u)).filter((s) => s.status === 'ELECTED').length;
      assert.equal(elected, 1, `${u} elected once`);
    }
    for (const u of uids) await a.deallocate(u).catch(() => undefined);
    for (const u of uids) await waitForState(a, u, ['DEALLOCATED'], 30_000);
  });
});
