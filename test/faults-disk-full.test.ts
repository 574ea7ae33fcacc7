// Fault: the data dir's file system fills up. A `shoal serve` process (SQLite in its data dir) runs
// on a small tmpfs of this test's own; a file fills every free byte. The node stops taking new work
// with the reason in GET /nodes and /health, keeps serving reads and its running resource, and
// takes work again once the file is removed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { open, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ShoalClient } from '../src/client/index.js';
import { ShoalApiError } from '../src/client/errors.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** writes zeros into `path` until the file system is full (bounded: 256 MiB); returns the bytes written */
async function fill(path: string): Promise<number> {
  const chunk = Buffer.alloc(1024 * 1024);
  const f = await open(path, 'w');
  let written = 0;
  try {
    for (let i = 0; i < 256; i++) {
      try {
        written += (await f.write(chunk)).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // the last partial chunk
    for (let size = 512 * 1024; size >= 512; size /= 2) {
      try {
        written += (await f.write(chunk.subarray(0, size))).bytesWritten;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    await f.close();
  }
  return written;
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && Date.now() < deadline; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('fault: the data dir file system is full', { timeout: 180_000 }, () => {
  let mountPoint: string | undefined;
  let node: NodeProcess | undefined;
  after(async () => {
    await node?.cleanup();
    if (mountPoint) {
      await run('umount', [mountPoint]).catch(() => run('umount', ['-l', mountPoint!]));
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it('takes no new work with the reason in /nodes and /health, serves reads, resumes when space returns', async () => {
    mountPoint = await mkdtemp(join(tmpdir(), 'shoal-full-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', mountPoint]);
    const dataDir = join(mountPoint, 'data');
    node = await startNodeProcess({
      dataDir,
      name: 'full',
      config: { capacity: { cpu: 4, ram: 4 }, drivers: { test: { cpu: 4, ram: 4 } }, min_free_disk: '8MB' },
    });
    const c = new ShoalClient({ url: node.apiUrl, token: node.token });
    assert.deepEqual(await c.health().then((h) => [h.takes_work, h.reason]), [true, undefined]);
    await c.createLabel({ name: 'd', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
    const running = (await c.createApplication({ label: 'd' })).uid;
    await waitForState(c, running, ['ALLOCATED']);

    const filler = join(mountPoint, 'filler');
    const written = await fill(filler);
    assert.ok(written > 20 * 1024 * 1024, `filled ${written} bytes`);

    const reason = await until('/nodes/this to say why', async () => (await c.thisNode()).not_taking_work);
    assert.match(reason, /data dir .* is \(nearly\) full: \d+\.\d MB free, below min_free_disk 8\.0 MB/);
    const health = await c.health();
    assert.equal(health.takes_work, false);
    assert.equal(health.reason, reason);
    assert.equal((await c.listNodes()).find((n) => n.name === 'full')?.not_taking_work, reason);
    // reads go on, the running resource stays
    assert.equal((await c.getState(running)).status, 'ALLOCATED');
    assert.equal((await c.getResource(running)).node, 'full');
    assert.ok((await c.listApplications({})).items.some((a) => a.uid === running));
    assert.equal((await readdir(join(dataDir, 'drivers', 'test', 'resources'))).filter((f) => f.endsWith('.json')).length, 1);
    // new work is refused, naming the reason
    await assert.rejects(
      c.createApplication({ label: 'd' }),
      (e: unknown) => e instanceof ShoalApiError && e.status === 503 && e.message.includes('data dir') && e.message.includes('full'),
    );
    assert.equal(node.proc.exitCode, null, 'the node keeps running');

    await rm(filler);
    await until('the node to take work again', async () => ((await c.health()).takes_work === true ? true : undefined));
    assert.equal((await c.thisNode()).not_taking_work, undefined);
    const after = (await c.createApplication({ label: 'd' })).uid;
    await waitForState(c, after, ['ALLOCATED']);
    for (const uid of [running, after]) {
      await c.deallocate(uid);
      await waitForState(c, uid, ['DEALLOCATED']);
    }
  });
});
