import assert from 'node:assert/strict';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { def, preparedDriver, TempDirs } from './test-helpers.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

const isCode = (code: string, pattern?: RegExp) => (err: unknown) =>
  err instanceof DriverError && err.code === code && (pattern === undefined || pattern.test(err.message));

describe('test driver: resources are files', () => {
  it('allocate writes one resource file recording disks, network, context and metadata keys (not values)', async () => {
    const d = await preparedDriver(await dirs.make());
    const r = await d.allocate(
      def({ cpu: 2, ram: 3, disks: { ws: { type: 'ext4', size: 4, label: 'work' } }, network: 'nat' }),
      { TOKEN: 'secret-value-never-written' },
      { application: 'app-1', label: 'lbl', node: 'n1' },
    );
    assert.deepEqual(await readdir(d.resourcesDir), [`${r.hwaddr.replaceAll(':', '-')}.json`]);
    const text = await readFile(`${d.resourcesDir}/${r.hwaddr.replaceAll(':', '-')}.json`, 'utf8');
    assert.ok(!text.includes('secret-value-never-written'), 'a metadata value was written to disk');
    const rec = JSON.parse(text) as Record<string, unknown>;
    assert.equal(rec.hwaddr, r.hwaddr);
    assert.equal(rec.ipaddr, r.ipaddr);
    assert.equal(rec.cpu, 2);
    assert.equal(rec.ram, 3);
    assert.deepEqual(rec.disks, { ws: { type: 'ext4', label: 'work', size: 4, reuse: false, clone: '' } });
    assert.equal(rec.network, 'nat');
    assert.deepEqual(rec.metadata_keys, ['TOKEN']);
    assert.deepEqual(rec.context, { application: 'app-1', label: 'lbl', node: 'n1' });
    await d.deallocate(r.hwaddr);
    assert.deepEqual(await readdir(d.resourcesDir), []);
  });

  it('snapshot writes a snapshot record and returns JSON info naming it', async () => {
    const d = await preparedDriver(await dirs.make());
    const r = await d.allocate(def({ cpu: 1, ram: 1, disks: { a: { type: 'qcow2', size: 1 }, b: { type: 'dir', size: 2 } } }), {});
    const info = JSON.parse(await d.snapshot(r.hwaddr, true)) as {
      driver: string;
      hwaddr: string;
      full: boolean;
      file: string;
      disks: string[];
    };
    assert.equal(info.driver, 'test');
    assert.equal(info.hwaddr, r.hwaddr);
    assert.equal(info.full, true);
    assert.deepEqual(info.disks.sort(), ['a', 'b']);
    assert.ok(info.file.startsWith(d.snapshotsDir), info.file);
    const snap = JSON.parse(await readFile(info.file, 'utf8')) as { hwaddr: string; full: boolean; disks: Record<string, unknown> };
    assert.equal(snap.hwaddr, r.hwaddr);
    assert.equal(snap.full, true);
    assert.deepEqual(Object.keys(snap.disks).sort(), ['a', 'b']);
    const second = JSON.parse(await d.snapshot(r.hwaddr, false)) as { file: string; full: boolean };
    assert.notEqual(second.file, info.file, 'a second snapshot overwrote the first');
    assert.equal(second.full, false);
    assert.equal((await readdir(d.snapshotsDir)).length, 2);
    await d.deallocate(r.hwaddr);
    assert.equal((await readdir(d.snapshotsDir)).length, 2, 'snapshots must outlive the resource');
    await assert.rejects(d.snapshot(r.hwaddr, false), isCode('NOT_FOUND'));
  });

  it("hwaddrs that are not this driver's shape never touch the file system", async () => {
    const d = await preparedDriver(await dirs.make());
    const evil = '../../../../etc/passwd';
    assert.equal(await d.status(evil), StatusNone);
    await d.deallocate(evil);
    await assert.rejects(d.snapshot(evil, false), isCode('NOT_FOUND'));
    await d.deallocate('');
  });

  it('a resource file removed from outside is reported NONE and its capacity is freed', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 2 });
    const r = await d.allocate(def({ cpu: 2, ram: 1 }), {});
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 1 }), {}), isCode('NO_CAPACITY'));
    await rm(`${d.resourcesDir}/${r.hwaddr.replaceAll(':', '-')}.json`);
    assert.equal(await d.status(r.hwaddr), StatusNone);
    assert.deepEqual(await d.listResources(), []);
    const again = await d.allocate(def({ cpu: 2, ram: 1 }), {});
    await d.deallocate(again.hwaddr);
  });
});

describe('test driver: capacity', () => {
  it('capacity() is the config; allocate beyond it is NO_CAPACITY and leaves no file', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 4, ram: 8 });
    assert.deepEqual(await d.capacity(), { cpu: 4, ram: 8 });
    const a = await d.allocate(def({ cpu: 3, ram: 2 }), {});
    await assert.rejects(d.allocate(def({ cpu: 2, ram: 1 }), {}), isCode('NO_CAPACITY', /cpu 2 ram 1.*in use cpu 3\/4, ram 2\/8/));
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 7 }), {}), isCode('NO_CAPACITY'));
    assert.deepEqual(await d.listResources(), [a.hwaddr]);
    assert.equal((await readdir(d.resourcesDir)).length, 1);
    const b = await d.allocate(def({ cpu: 1, ram: 6 }), {});
    await d.deallocate(a.hwaddr);
    const c = await d.allocate(def({ cpu: 3, ram: 2 }), {});
    await d.deallocate(b.hwaddr);
    await d.deallocate(c.hwaddr);
  });

  it('concurrent allocations never exceed capacity', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 50, ram: 1000, delay_allocate: 2 });
    const results = await Promise.allSettled(Array.from({ length: 120 }, () => d.allocate(def({ cpu: 1, ram: 1 }), {})));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(ok.length, 50);
    for (const r of refused) assert.ok(isCode('NO_CAPACITY')(r.reason));
    assert.equal((await d.listResources()).length, 50);
    for (const r of ok) await d.deallocate((r as PromiseFulfilledResult<{ hwaddr: string }>).value.hwaddr);
    assert.deepEqual(await d.listResources(), []);
  });
});

describe('test driver: loopback ipaddrs', () => {
  it('are unique among 2,000 live resources, in 127.X/16 with X ≥ 1, and bindable as source addresses', async () => {
    const d = await preparedDriver(await dirs.make(), { cpu: 4096, ram: 4096 });
    const results = [];
    for (let i = 0; i < 20; i++)
      results.push(...(await Promise.all(Array.from({ length: 100 }, () => d.allocate(def({ cpu: 1, ram: 1 }), {})))));
    const ips = results.map((r) => r.ipaddr ?? '');
    assert.equal(new Set(ips).size, 2000, 'duplicate ipaddr among live resources');
    assert.equal(new Set(results.map((r) => r.hwaddr)).size, 2000, 'duplicate hwaddr');
    const blocks = new Set<string>();
    for (const ip of ips) {
      const m = /^127\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
      assert.ok(m, `${ip} is not 127.x.y.z`);
      const [x, y, z] = [Number(m[1]), Number(m[2]), Number(m[3])];
      assert.ok(x >= 1 && x <= 254 && y <= 255 && z >= 1 && z <= 254, ip);
      blocks.add(m[1]!);
    }
    assert.equal(blocks.size, 1, 'one instance uses one 127.X block');

    // A client binding the resource's ipaddr is seen by a loopback server with that source address.
    const seen: string[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.socket.remoteAddress ?? '');
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const ip of ips.slice(0, 3)) {
        await new Promise<void>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: '/', localAddress: ip, agent: false, timeout: 10_000 }, (res) => {
              res.resume();
              res.on('end', resolve);
            })
            .on('error', reject);
        });
      }
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    assert.deepEqual(seen, ips.slice(0, 3));
    for (const r of results) await d.deallocate(r.hwaddr);
    assert.deepEqual(await d.listResources(), []);
  });

  it('two instances on one node use different blocks', async () => {
    const a = await preparedDriver(await dirs.make(), {}, {}, 'test');
    const b = await preparedDriver(await dirs.make(), {}, {}, 'test/other');
    const ra = await a.allocate(def(), {});
    const rb = await b.allocate(def(), {});
    assert.notEqual(ra.ipaddr?.split('.')[1], rb.ipaddr?.split('.')[1]);
    await a.deallocate(ra.hwaddr);
    await b.deallocate(rb.hwaddr);
  });
});

describe('test driver: real failures leave nothing behind', () => {
  it('a write that fails is BACKEND, frees the reservation and leaves no file', async () => {
    const dir = await dirs.make();
    const d = await preparedDriver(dir, { cpu: 1 });
    await rm(d.resourcesDir, { recursive: true });
    await writeFile(d.resourcesDir, 'not a directory'); // every write into it now fails (even as root)
    await assert.rejects(d.allocate(def({ cpu: 1, ram: 1 }), {}), isCode('BACKEND', /resource file/));
    await rm(d.resourcesDir);
    await d.prepare(JSON.stringify({ cpu: 1 })); // recreates the folder
    assert.deepEqual(await readdir(d.resourcesDir), []);
    const r = await d.allocate(def({ cpu: 1, ram: 1 }), {}); // the failed one's cpu was given back
    assert.equal(await d.status(r.hwaddr), StatusAllocated);
    await d.deallocate(r.hwaddr);
  });
});
