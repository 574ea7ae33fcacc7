/**
 * What a qemu guest reaches on the node host, checked from the guest (its own probes on its serial
 * console) and from outside (host services counting connections, /proc, ip netns, iptables): a
 * `nat` guest reaches neither the host's loopback (slirp's 10.0.2.2) nor the host's own
 * non-loopback address, still reads its metadata, and its Meta API connections are answered in the
 * node process — none spawns a process. Deallocate, and a restart after a crash, leave no
 * namespace, veth, address claim or iptables chain. Two VM boots.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DriverContext } from '../../contract/index.js';
import { QemuDriver } from './driver.js';
import { listVmNets } from '../shared/host-net.js';
import { run } from '../shared/exec.js';
import {
  FakeMeta,
  buildTestGuest,
  kernelDefinition,
  qemuByMac,
  removeDir,
  tempDataDir,
  testContext,
  waitForText,
  type TestGuest,
} from './test-support.js';
import { findProcesses } from './vm-process.js';
import { hostAddress, hostService, type HostService } from '../shared/testing/host-service.js';

const T = { timeout: 240_000 };
const BOOT_MS = 180_000;
const HOLD = 4;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A driver context whose fetch policy allows the test guest's files. */
function context(dataDir: string, meta: FakeMeta, guest: TestGuest): DriverContext {
  return { ...testContext(dataDir, meta), fetch: { allowFiles: [dirname(guest.kernel.path)], allowHosts: [], maxImageBytes: 2 ** 30 } };
}

/** pids whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) kids.push(Number(e));
    } catch {
      // ended meanwhile
    }
  }
  return kids;
}

async function chainsMentioning(word: string): Promise<string[]> {
  const out: string[] = [];
  for (const table of ['filter', 'nat']) {
    const r = await run('iptables', ['-w', '30', '-t', table, '-S']);
    out.push(...r.stdout.split('\n').filter((l) => l.includes(word)));
  }
  return out;
}

function claimsNaming(netns: string): string[] {
  const dir = '/run/shoal-net';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => {
    try {
      return readFileSync(`${dir}/${f}`, 'utf8') === netns;
    } catch {
      return false;
    }
  });
}

describe('qemu driver: what a guest reaches on the node host', { timeout: 900_000 }, () => {
  const tag = randomBytes(4).toString('hex');
  const meta = new FakeMeta();
  const config = JSON.stringify({ accel: 'tcg', shutdown_timeout_seconds: 0 });
  let guest: TestGuest;
  let dataDir: string;
  let driver: QemuDriver;
  let loopback: HostService;
  let own: HostService;
  const live = new Set<string>();

  before(async () => {
    guest = buildTestGuest();
    dataDir = await tempDataDir('net');
    loopback = await hostService('127.0.0.1');
    own = await hostService(hostAddress());
    driver = new QemuDriver(context(dataDir, meta, guest));
    await driver.prepare(config);
  }, T);

  after(async () => {
    await driver?.close();
    const cleaner = new QemuDriver(context(dataDir, new FakeMeta(), guest));
    await cleaner.prepare(config);
    for (const h of new Set([...live, ...(await cleaner.listResources())])) await cleaner.deallocate(h);
    for (const pid of (await findProcesses(cleaner.paths().markerPrefix())).values()) process.kill(pid, 'SIGKILL');
    await cleaner.close();
    await loopback?.close();
    await own?.close();
    await removeDir(dataDir);
  }, T);

  it(
    "a nat guest reaches neither the host loopback nor the host's own address, reads its metadata, and its Meta API connections spawn nothing",
    T,
    async () => {
      const data = { TOKEN: `nat-${tag}` };
      const def = kernelDefinition(guest, {
        network: 'nat',
        append: `shoal.probe=10.0.2.2:${loopback.target.split(':')[1]},${own.target} shoal.hold=${HOLD}`,
      });
      const r = await driver.allocate(def, data, { application: `app-${tag}`, label: `net-${tag}`, node: 'test-node' });
      live.add(r.hwaddr);
      meta.data.set(r.hwaddr, data);
      await waitForText(
        () => driver.console(r.hwaddr),
        new RegExp(`SHOAL-GUEST holding ${HOLD}`),
        BOOT_MS,
        'the guest holding Meta API connections',
      );
      const text = await driver.console(r.hwaddr);
      assert.match(text, /SHOAL-GUEST meta-ok/);
      assert.ok(text.includes(data.TOKEN), 'the guest did not read its metadata');
      assert.match(
        text,
        new RegExp(`SHOAL-GUEST probe 10\\.0\\.2\\.2:\\d+ failed`),
        'the guest reached the host loopback through 10.0.2.2',
      );
      assert.match(
        text,
        new RegExp(`SHOAL-GUEST probe ${own.target.replaceAll('.', '\\.')} failed`),
        "the guest reached the host's own address",
      );
      assert.equal(loopback.hits(), 0, 'the loopback service saw a connection');
      assert.equal(own.hits(), 0, 'the service on the host address saw a connection');

      // the guest's held connections arrive at the driver's in-process listener …
      const deadline = Date.now() + 60_000;
      while ((await driver.metaConnections(r.hwaddr)) !== HOLD) {
        assert.ok(
          Date.now() < deadline,
          `the Meta API channel has ${await driver.metaConnections(r.hwaddr)} connections, expected ${HOLD}`,
        );
        await sleep(100);
      }
      // … and no process was started for them (guestfwd + socat made one child of QEMU each)
      const vm = await qemuByMac(r.hwaddr);
      assert.ok(vm);
      assert.deepEqual(childrenOf(vm.pid), [], 'QEMU has child processes while the guest holds Meta API connections');
      assert.deepEqual(childrenOf(process.pid), [], 'the node process started helpers');
    },
  );

  it('deallocate leaves no namespace, veth, address claim or iptables chain', T, async () => {
    const [h] = [...live];
    assert.ok(h, 'the previous test failed');
    const state = await driver.stateOf(h);
    assert.ok(state?.net);
    const net = state.net;
    assert.ok(existsSync(`/run/netns/${net.netns}`) && existsSync(`/sys/class/net/${net.hostIf}`), 'the VM had its namespace and veth');
    assert.ok((await chainsMentioning(net.hostIf)).length > 0, 'the VM had its rules');
    await driver.deallocate(h);
    live.delete(h);
    assert.equal(existsSync(`/run/netns/${net.netns}`), false, 'namespace left');
    assert.equal(existsSync(`/sys/class/net/${net.hostIf}`), false, 'veth left');
    assert.deepEqual(await chainsMentioning(net.hostIf), [], 'iptables rules left');
    assert.deepEqual(await chainsMentioning(driver.netNames().chainPrefix()), [], 'iptables chains left');
    assert.deepEqual(claimsNaming(net.netns), [], 'address claim left');
  });

  it("after a crash that left a VM's network but no state file and no process, prepare removes it", T, async () => {
    const r = await driver.allocate(
      kernelDefinition(guest, { network: 'nat' }),
      {},
      { application: `app2-${tag}`, label: `net-${tag}`, node: 'test-node' },
    );
    live.add(r.hwaddr);
    const state = await driver.stateOf(r.hwaddr);
    assert.ok(state?.net);
    // the crash: the node and QEMU die, the state file is gone, the network stays
    await driver.close();
    const vm = await qemuByMac(r.hwaddr);
    assert.ok(vm);
    process.kill(vm.pid, 'SIGKILL');
    while (await qemuByMac(r.hwaddr)) await sleep(50);
    await rm(driver.paths().stateDir + `/${r.hwaddr.replaceAll(':', '')}.json`);
    assert.ok([...(await listVmNets(driver.netNames()))].length > 0, 'the crash left the network');
    driver = new QemuDriver(context(dataDir, meta, guest));
    await driver.prepare(config);
    live.delete(r.hwaddr);
    assert.deepEqual([...(await listVmNets(driver.netNames()))], [], 'prepare left an orphaned namespace or chain');
    assert.equal(existsSync(`/run/netns/${state.net.netns}`), false);
    assert.equal(existsSync(`/sys/class/net/${state.net.hostIf}`), false);
    assert.deepEqual(await chainsMentioning(state.net.hostIf), []);
    assert.deepEqual(claimsNaming(state.net.netns), []);
  });
});
