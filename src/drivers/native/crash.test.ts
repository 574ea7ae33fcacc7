/**
 * The node process killed with SIGKILL while it holds sandboxes: a fresh driver on the same data
 * dir re-attaches them (their Meta API answers again), removes what a crashed allocation left
 * (found by its cgroup, namespace and uid claim), and deallocate leaves no process, mount, veth,
 * namespace or uid claim.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StatusAllocated, StatusNone } from '../../contract/index.js';
import { run } from '../shared/exec.js';
import { listVmNets } from '../shared/host-net.js';
import { listMounts } from '../shared/mounts.js';
import { NativeDriver } from './driver.js';
import { FakeMeta, nativeDefinition, tempDataDir, testContext } from './test-support.js';

const T = { timeout: 120_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Whether a process runs (a zombie has ended: only its parent has not collected it yet). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
}

describe('native driver: a node killed with SIGKILL, then restarted', { timeout: 300_000 }, () => {
  let dataDir = '';
  const drivers: NativeDriver[] = [];

  after(async () => {
    for (const d of drivers) {
      for (const h of await d.listResources().catch(() => [] as string[])) await d.deallocate(h).catch(() => undefined);
      await d.close();
    }
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  }, T);

  it('re-attaches live sandboxes, removes a half-made one, and deallocate leaves nothing', T, async () => {
    dataDir = await tempDataDir('crash');
    // asks its Meta API once a second (bounded: 600 times)
    const def = nativeDefinition(
      { command: ['/bin/sh', '-c', 'for i in $(seq 1 600); do curl -s -m 2 -o /dev/null "$SHOAL_META_URL"; sleep 1; done'] },
      { disks: { ws: { type: 'ext4', size: 1 } } },
    );
    const script = join(dirname(fileURLToPath(import.meta.url)), 'test-fixtures', 'allocate-child.js');
    const child = spawn(process.execPath, [script, dataDir, def], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const deadline = Date.now() + 60_000;
    while ((out.match(/ALLOCATED/g) ?? []).length < 2) {
      assert.ok(Date.now() < deadline && child.exitCode === null, `the child did not allocate: ${out}`);
      await sleep(20);
    }
    child.kill('SIGKILL');
    await exited;
    const hwaddrs = [...out.matchAll(/ALLOCATED (\S+)/g)].map((m) => m[1]!);

    // a sandbox whose allocation the crash cut short: a cgroup, a namespace and a uid claim, no state
    const probe = new NativeDriver(testContext(dataDir, new FakeMeta()));
    drivers.push(probe);
    await probe.prepare('{}');
    const { cgroups, netNames, uids, config } = probe.internals();
    const halfMac = '02:00:00:c4:a5:11';
    const halfId = halfMac.replaceAll(':', '');
    await cgroups.create(halfId, { cpu: 1, ramBytes: 2 ** 30, pids: 64 });
    await run('ip', ['netns', 'add', netNames.netns(halfMac)]);
    const halfUid = await uids.claim(halfId);
    await mkdir(join(config.sandboxDir, halfId), { recursive: true });
    await writeFile(join(config.sandboxDir, halfId, 'x'), '');
    await probe.close();

    const meta = new FakeMeta();
    for (const h of hwaddrs) meta.data.set(h, { ok: true });
    const fresh = new NativeDriver(testContext(dataDir, meta));
    drivers.push(fresh);
    await fresh.prepare('{}');
    assert.equal(await cgroups.exists(halfId), false, 'the half-made cgroup is removed');
    assert.equal(existsSync(`/run/netns/${netNames.netns(halfMac)}`), false, 'the half-made namespace is removed');
    assert.equal(existsSync(uids.claimFile(halfUid)), false, 'the half-made uid claim is released');
    assert.equal(existsSync(join(config.sandboxDir, halfId)), false, 'the half-made folder is removed');
    assert.deepEqual(await fresh.listResources(), [...hwaddrs].sort());

    const states = [];
    for (const h of hwaddrs) {
      assert.equal(await fresh.status(h), StatusAllocated, `${h} survived the node`);
      states.push((await fresh.stateOf(h))!);
    }
    // the re-attached Meta API channels answer again (each sandbox asks once a second)
    const until = Date.now() + 30_000;
    while (hwaddrs.some((h) => (meta.served.get(h) ?? 0) === 0)) {
      assert.ok(Date.now() < until, `not every sandbox reached its Meta API again: ${JSON.stringify([...meta.served])}`);
      await sleep(100);
    }

    for (const h of hwaddrs) await fresh.deallocate(h);
    assert.deepEqual(await fresh.listResources(), []);
    const mounts = await listMounts();
    for (const s of states) {
      const id = s.hwaddr.replaceAll(':', '');
      assert.equal(await fresh.status(s.hwaddr), StatusNone);
      for (const pid of [s.initPid!, s.monitorPid!]) assert.equal(await running(pid), false, `process ${pid} is left`);
      assert.deepEqual(await cgroups.pids(id), []);
      assert.equal(await cgroups.exists(id), false, 'no cgroup left');
      assert.equal(existsSync(`/sys/class/net/${netNames.hostIf(s.hwaddr)}`), false, 'no veth left');
      assert.equal(existsSync(uids.claimFile(s.uid)), false, 'no uid claim left');
      assert.ok(!mounts.some((m) => m.mountPoint.startsWith(join(config.sandboxDir, id))), 'no mount left');
      assert.equal(existsSync(join(config.sandboxDir, id)), false, 'no sandbox folder left');
    }
    assert.deepEqual([...(await listVmNets(netNames))], [], 'no namespace or chain left');
  });
});
