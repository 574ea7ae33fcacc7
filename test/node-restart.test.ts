// A real node process killed with SIGKILL mid-lifecycle and started again over the same data dir:
// interrupted allocations are redone without orphans, vanished resources are reported, kept ones
// stay ALLOCATED. Also lifetimes and retries over fallback definitions.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ShoalApiError, ShoalClient } from '../src/client/index.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

const CONFIG = { capacity: { cpu: 16, ram: 16 }, drivers: { test: { cpu: 16, ram: 16 } } };

async function resourceFiles(dataDir: string): Promise<string[]> {
  const files = await readdir(join(dataDir, 'drivers', 'test', 'resources')).catch(() => [] as string[]);
  return files.filter((f) => f.endsWith('.json')).sort();
}

describe('node restart, lifetimes and retries', { timeout: 180_000 }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  async function start(dataDir: string): Promise<{ node: NodeProcess; client: ShoalClient }> {
    const node = await startNodeProcess({ dataDir, config: CONFIG });
    cleanups.push(() => node.kill());
    return { node, client: new ShoalClient({ url: node.apiUrl, token: node.token }) };
  }

  it('SIGKILL mid-allocation and while allocated: restart reconciles without orphans', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-restart-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let { node, client } = await start(dataDir);
    // one node per data dir: a second one is refused, saying why, and the first keeps working
    await assert.rejects(startNodeProcess({ dataDir, config: CONFIG }), /in use by another shoal serve/);
    await client.createLabel({ name: 'quick', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    await client.createLabel({
      name: 'slow',
      definitions: [{ driver: 'test', options: { delay_allocate: 4000 }, requirements: { cpu: 1, ram: 1 } }],
    });
    const kept = await client.createApplication({ label: 'quick' });
    const vanishing = await client.createApplication({ label: 'quick' });
    await waitForState(client, kept.uid, ['ALLOCATED']);
    await waitForState(client, vanishing.uid, ['ALLOCATED']);
    const vanishingRes = await client.getResource(vanishing.uid);
    const slow = await client.createApplication({ label: 'slow' });
    await waitForState(client, slow.uid, ['ELECTED']);
    await node.kill();

    // behind the node's back: one resource disappears from the backend
    await unlink(join(dataDir, 'drivers', 'test', 'resources', `${vanishingRes.hwaddr.replaceAll(':', '-')}.json`));

    ({ node, client } = await start(dataDir));
    assert.equal((await client.getState(kept.uid)).status, 'ALLOCATED');
    const vanished = await waitForState(client, vanishing.uid, ['ERROR'], 10000);
    assert.ok(vanished.description.length > 0, 'the reason is given');
    // the interrupted allocation is redone: ALLOCATED once, with exactly one resource behind it
    await waitForState(client, slow.uid, ['ALLOCATED'], 30000);
    const slowRes = await client.getResource(slow.uid);
    const keptRes = await client.getResource(kept.uid);
    assert.deepEqual(
      await resourceFiles(dataDir),
      [`${keptRes.hwaddr.replaceAll(':', '-')}.json`, `${slowRes.hwaddr.replaceAll(':', '-')}.json`].sort(),
    );

    await client.deallocate(kept.uid);
    await client.deallocate(slow.uid);
    await waitForState(client, kept.uid, ['DEALLOCATED']);
    await waitForState(client, slow.uid, ['DEALLOCATED'], 20000);
    assert.deepEqual(await resourceFiles(dataDir), []);
    const code = await node.stop();
    assert.equal(code, 0, node.output());
  });

  it('ends a resource when its lifetime is over, and falls back over definitions', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-life-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const { node, client } = await start(dataDir);
    await client.createLabel({
      name: 'short',
      lifetime: '2s',
      definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }],
    });
    const app = await client.createApplication({ label: 'short' });
    await waitForState(client, app.uid, ['ALLOCATED']);
    const res = await client.getResource(app.uid);
    assert.ok(res.expires_at, 'expires_at is set');
    const ttl = Date.parse(res.expires_at) - Date.parse(res.created_at);
    assert.ok(ttl >= 1500 && ttl <= 2500, `expires 2 s after allocation, got ${ttl} ms`);
    await waitForState(client, app.uid, ['DEALLOCATED'], 20000);

    await client.createLabel({
      name: 'fallback',
      definitions: [
        { driver: 'test', options: { fail_allocate: 255 }, requirements: { cpu: 1, ram: 1 } },
        { driver: 'test', options: {}, requirements: { cpu: 2, ram: 1 } },
      ],
    });
    const fb = await client.createApplication({ label: 'fallback' });
    await waitForState(client, fb.uid, ['ALLOCATED']);
    const fbRes = await client.getResource(fb.uid);
    assert.equal(fbRes.definition_index, 1);
    const states = await client.listStates(fb.uid);
    assert.ok(
      states.some((s) => s.status === 'NEW' && /fail_allocate/.test(s.description)),
      JSON.stringify(states),
    );

    await client.createLabel({
      name: 'doomed',
      definitions: [{ driver: 'test', options: { fail_allocate: 255 }, requirements: { cpu: 1, ram: 1 } }],
    });
    const doomed = await client.createApplication({ label: 'doomed' });
    const err = await waitForState(client, doomed.uid, ['ERROR'], 30000);
    assert.match(err.description, /fail_allocate/);
    await client.deallocate(fb.uid);
    await waitForState(client, fb.uid, ['DEALLOCATED']);
    assert.deepEqual(await resourceFiles(dataDir), []);
    await node.stop();
  });

  it('with shutdown_wait, SIGTERM takes no new work but keeps serving until the resources have ended', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-drain-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // info level: the node says when it starts waiting for its resources (the signal awaited below)
    const node = await startNodeProcess({ dataDir, config: { ...CONFIG, shutdown_wait: '60s' }, env: { SHOAL_LOG_LEVEL: 'info' } });
    cleanups.push(() => node.kill());
    const client = new ShoalClient({ url: node.apiUrl, token: node.token });
    await client.createLabel({ name: 'held', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    const app = await client.createApplication({ label: 'held' });
    await waitForState(client, app.uid, ['ALLOCATED']);
    const draining = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the node never said it waits for its resources:\n${node.output()}`)), 30_000);
      const check = (): void => {
        if (!node.output().includes('waiting for the resources of this node to end')) return;
        clearTimeout(timer);
        resolve();
      };
      node.proc.stdout?.on('data', check);
      node.proc.stderr?.on('data', check);
      node.proc.once('exit', () => {
        clearTimeout(timer);
        reject(new Error(`the node exited instead of waiting for its resource:\n${node.output()}`));
      });
    });
    const exited = node.stop();
    await draining;
    assert.equal(node.proc.exitCode, null, 'still running while a resource is held');
    await assert.rejects(client.createApplication({ label: 'held' }), (e: unknown) => e instanceof ShoalApiError && e.status === 503);
    assert.equal((await client.getState(app.uid)).status, 'ALLOCATED');
    await client.deallocate(app.uid);
    assert.equal(await exited, 0, node.output());
    assert.deepEqual(await resourceFiles(dataDir), []);
  });
});
