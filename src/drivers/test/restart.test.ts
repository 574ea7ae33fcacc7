import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { TestDriver } from './driver.js';
import { contextFor, def, memoryLog, preparedDriver, TempDirs } from './test-helpers.js';

const dirs = new TempDirs();
after(() => dirs.cleanup());

describe('test driver: state survives a restart', () => {
  it('a new instance over the same data dir sees the same resources, capacity use and recorded options', async () => {
    const dir = await dirs.make();
    const first = await preparedDriver(dir, { cpu: 4 });
    const a = await first.allocate(def({ cpu: 2, ram: 1, disks: { ws: { type: 'ext4', size: 1 } } }), {});
    const b = await first.allocate(def({ cpu: 1, ram: 1 }, { fail_deallocate: 255 }), {});
    const gone = await first.allocate(def({ cpu: 1, ram: 1 }), {});
    await first.deallocate(gone.hwaddr);

    const second = await preparedDriver(dir, { cpu: 4 });
    assert.deepEqual((await second.listResources()).sort(), [a.hwaddr, b.hwaddr].sort());
    assert.equal(await second.status(a.hwaddr), StatusAllocated);
    assert.equal(await second.status(b.hwaddr), StatusAllocated);
    assert.equal(await second.status(gone.hwaddr), StatusNone);
    // 3 of 4 cpus are still in use after the restart
    await assert.rejects(
      second.allocate(def({ cpu: 2, ram: 1 }), {}),
      (e: unknown) => e instanceof DriverError && e.code === 'NO_CAPACITY',
    );
    // b's label said fail_deallocate 255: the new instance still honours it
    await assert.rejects(
      second.deallocate(b.hwaddr),
      (e: unknown) => e instanceof DriverError && e.code === 'INJECTED' && /label options/.test(e.message),
    );
    const snap = JSON.parse(await second.snapshot(a.hwaddr, false)) as { disks: string[] };
    assert.deepEqual(snap.disks, ['ws']);
    await second.deallocate(a.hwaddr);
    const third = await preparedDriver(dir, { cpu: 4 });
    assert.deepEqual(await third.listResources(), [b.hwaddr]);
  });

  it('temp files left by a crash mid-write are removed at prepare and never listed', async () => {
    const dir = await dirs.make();
    const first = await preparedDriver(dir);
    const kept = await first.allocate(def(), {});
    await writeFile(`${first.resourcesDir}/.tmp-0123456789ab-02-11-22-33-44-55.json`, '{"hwaddr":"02:11:22:33:44:55","ipa');
    await writeFile(`${first.snapshotsDir}/.tmp-0123456789ab-02-11-22-33-44-55-x.json`, '{');
    const log = memoryLog();
    const second = new TestDriver(contextFor(dir, 'test', log));
    await second.prepare('');
    assert.deepEqual(await readdir(second.resourcesDir), [`${kept.hwaddr.replaceAll(':', '-')}.json`]);
    assert.deepEqual(await readdir(second.snapshotsDir), []);
    assert.deepEqual(await second.listResources(), [kept.hwaddr]);
    assert.ok(log.lines.some((l) => l.level === 'info' && /temp files/.test(l.msg ?? '')));
  });

  it('an unreadable resource file is still listed and can be deallocated', async () => {
    const dir = await dirs.make();
    const first = await preparedDriver(dir);
    await writeFile(`${first.resourcesDir}/02-aa-bb-cc-dd-ee.json`, 'garbage');
    const log = memoryLog();
    const second = new TestDriver(contextFor(dir, 'test', log));
    await second.prepare('{}');
    assert.ok(log.lines.some((l) => l.level === 'warn'));
    assert.deepEqual(await second.listResources(), ['02:aa:bb:cc:dd:ee']);
    assert.equal(await second.status('02:aa:bb:cc:dd:ee'), StatusAllocated);
    await second.deallocate('02:aa:bb:cc:dd:ee');
    assert.deepEqual(await second.listResources(), []);
  });

  it('SIGKILL during a delayed allocate leaves no resource file; finished resources survive', { timeout: 60_000 }, async () => {
    const dir = await dirs.make();
    const driverUrl = new URL('./driver.js', import.meta.url).href;
    const script = `
      import { TestDriver } from ${JSON.stringify(driverUrl)};
      const log = { debug() {}, info() {}, warn() {}, error() {} };
      const d = new TestDriver({ instance: 'test', nodeName: 'n', dataDir: process.env.SHOAL_TEST_DIR, log, meta: {} });
      await d.prepare('{}');
      const def = (options) => JSON.stringify({ options, requirements: { cpu: 1, ram: 1 } });
      const done = await d.allocate(def({}), {});
      console.log('DONE ' + done.hwaddr);
      const slow = d.allocate(def({ delay_allocate: 30000 }), {});
      console.log('WAITING');
      await slow;
      console.log('FINISHED');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, SHOAL_TEST_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child never reached the delayed allocate: ${out} ${err}`)), 30_000);
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('WAITING')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.on('exit', () => reject(new Error(`child exited early: ${out} ${err}`)));
      });
      // WAITING is printed after allocate() reserved the resource (synchronously) and while it
      // sits in its 30 s delay: killing the child now kills it mid-allocation
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');
    assert.ok(!out.includes('FINISHED'));
    const done = /DONE (\S+)/.exec(out)?.[1];
    assert.ok(done, out);
    const after = await preparedDriver(dir);
    assert.deepEqual(await after.listResources(), [done], 'only the finished allocation exists');
    assert.deepEqual(await readdir(after.resourcesDir), [`${done.replaceAll(':', '-')}.json`]);
    assert.equal(await after.status(done), StatusAllocated);
  });
});
