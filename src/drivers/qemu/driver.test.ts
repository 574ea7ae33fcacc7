/**
 * The qemu driver with real VMs (TCG here): three guests in all (A and B at once, then C), each
 * checked from outside the driver: the QEMU process found in /proc by its MAC, its own QMP socket,
 * its serial console, and the files on disk.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { imageInfo, sha256File } from './disks.js';
import { QemuDriver } from './driver.js';
import { withQmp } from './qmp-client.js';
import type { SnapshotInfo } from './snapshot.js';
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

const execFileP = promisify(execFile);
const T = { timeout: 240_000 };
const GIB = 2 ** 30;
const BOOT_MS = 180_000;

/** The metadata JSON the guest printed between its meta-begin and meta-end markers. */
function printedMetadata(consoleText: string): unknown {
  const m = /SHOAL-GUEST meta-begin\r?\n(.*?)\r?\nSHOAL-GUEST meta-end/s.exec(consoleText);
  assert.ok(m, `no metadata block on the console:\n${consoleText.slice(-2000)}`);
  return JSON.parse(m[1]!);
}

function diskLine(consoleText: string, serial: string): { bytes: number } {
  const m = new RegExp(`SHOAL-GUEST disk serial=${serial} dev=vd[a-z] bytes=(\\d+)`).exec(consoleText);
  assert.ok(m, `the guest did not report disk ${serial}:\n${consoleText.slice(-2000)}`);
  return { bytes: Number(m[1]) };
}

function diskData(consoleText: string, serial: string): string {
  const m = new RegExp(`SHOAL-GUEST disk-data serial=${serial} (.*)`).exec(consoleText);
  assert.ok(m, `the guest did not report the data on disk ${serial}:\n${consoleText.slice(-2000)}`);
  return m[1]!.trim();
}

function lastPoll(consoleText: string): { n: number; ok: boolean } {
  const polls = [...consoleText.matchAll(/SHOAL-GUEST poll (\d+) (ok|failed)/g)];
  const last = polls[polls.length - 1];
  return last ? { n: Number(last[1]), ok: last[2] === 'ok' } : { n: 0, ok: false };
}

/** curl http://169.254.169.254<path> from inside a VM's namespace (async: its channel answers in this process). */
async function curlInNs(netns: string, path: string, post?: string): Promise<{ status: string; body: string }> {
  const args = ['netns', 'exec', netns, 'curl', '-s', '--max-time', '10', '-w', '\\n%{http_code}'];
  if (post !== undefined) args.push('--data-binary', post);
  const r = await execFileP('ip', [...args, `http://169.254.169.254${path}`], { encoding: 'utf8', timeout: 30_000 });
  const i = r.stdout.lastIndexOf('\n');
  return { body: r.stdout.slice(0, i), status: r.stdout.slice(i + 1) };
}

/** A loopback HTTP service the guests try to reach through 10.0.2.2 (only "nat" guests can). */
async function hostService(): Promise<{ port: number; body: string; hits: () => number; close: () => Promise<void> }> {
  const body = `host-service-${randomBytes(4).toString('hex')}`;
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    body,
    hits: () => hits,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('qemu driver: real VMs', { timeout: 1_500_000 }, () => {
  const run = randomBytes(4).toString('hex');
  const label = `qemu-test-${run}`;
  const meta = new FakeMeta();
  const config = JSON.stringify({ shutdown_timeout_seconds: 30 });
  let guest: TestGuest;
  let dataDir: string;
  let brokenDir: string;
  let driver: QemuDriver;
  let service: Awaited<ReturnType<typeof hostService>>;
  const live = new Set<string>();
  const extraDrivers: QemuDriver[] = [];
  let a: string | undefined;
  let b: string | undefined;
  let bSnapshot: SnapshotInfo | undefined;
  const metaA = { TOKEN: `alpha-${run}`, JOB: 'a' };
  const metaB = { TOKEN: `beta-${run}`, JOB: 'b' };
  const metaC = { TOKEN: `gamma-${run}`, JOB: 'c' };

  const need = (h: string | undefined, what: string): string => {
    assert.ok(h, `${what} was not allocated (an earlier test failed)`);
    return h;
  };

  before(async () => {
    guest = buildTestGuest();
    dataDir = await tempDataDir('drv');
    brokenDir = await tempDataDir('broken');
    service = await hostService();
    driver = new QemuDriver(testContext(dataDir, meta));
    await driver.prepare(config);
  }, T);

  after(async () => {
    const problems: string[] = [];
    try {
      await driver?.close();
      for (const d of extraDrivers) await d.close();
      // a fresh instance: works whatever state the test driver is in
      const cleaner = new QemuDriver(testContext(dataDir, new FakeMeta()));
      await cleaner.prepare(config);
      for (const h of new Set([...live, ...(await cleaner.listResources())])) {
        try {
          await cleaner.deallocate(h);
        } catch (err) {
          problems.push(`deallocate ${h}: ${(err as Error).message}`);
        }
      }
      const stray = await findProcesses(cleaner.paths().markerPrefix());
      for (const pid of stray.values()) process.kill(pid, 'SIGKILL');
      if (stray.size > 0) problems.push(`stray qemu processes: ${[...stray.keys()].join(', ')}`);
      await cleaner.close();
    } finally {
      await service?.close();
      if (dataDir) await removeDir(dataDir);
      if (brokenDir) await removeDir(brokenDir);
    }
    assert.deepEqual(problems, [], 'clean-up');
  }, T);

  it('allocates a VM with the vCPUs and memory asked for (QMP of the process found by its MAC)', T, async () => {
    const def = kernelDefinition(guest, {
      cpu: 2,
      ram: 1,
      append: `shoal.poll=2 shoal.probe=10.0.2.2:${service.port}`,
      disks: { ws: { type: 'ext4', size: 1, reuse: true }, scratch: { type: 'qcow2', size: 2 }, blob: { type: 'raw', size: 1 } },
    });
    const r = await driver.allocate(def, metaA, { application: `app-a-${run}`, label, node: 'test-node' });
    live.add(r.hwaddr);
    meta.data.set(r.hwaddr, metaA);
    a = r.hwaddr;
    assert.match(r.hwaddr, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.equal(Number.parseInt(r.hwaddr.slice(0, 2), 16) & 0b11, 0b10, 'a locally administered unicast MAC');
    const vm = await qemuByMac(r.hwaddr);
    assert.ok(vm, `no qemu process with mac=${r.hwaddr}`);
    const facts = await withQmp(vm.qmp, async (q) => ({
      cpus: await q.execute<unknown[]>('query-cpus-fast'),
      memory: await q.execute<{ 'base-memory': number }>('query-memory-size-summary'),
      status: await q.execute<{ status: string }>('query-status'),
      mac: await q.execute<string>('human-monitor-command', { 'command-line': 'info network' }),
    }));
    assert.equal(facts.cpus.length, 2, 'vCPUs');
    assert.equal(facts.memory['base-memory'], 1 * GIB, 'memory');
    assert.equal(facts.status.status, 'running');
    assert.match(facts.mac, new RegExp(`macaddr=${r.hwaddr}`));
    assert.equal(await driver.status(r.hwaddr), StatusAllocated);
    assert.ok((await driver.listResources()).includes(r.hwaddr));
  });

  it('the guest reads its own metadata from the Meta API and cannot reach the host (host-only)', T, async () => {
    const h = need(a, 'VM A');
    await waitForText(() => driver.console(h), /SHOAL-GUEST ready/, BOOT_MS, 'VM A ready');
    const text = await driver.console(h);
    assert.deepEqual(printedMetadata(text), metaA);
    assert.match(text, /SHOAL-GUEST cpus=2 /);
    assert.match(text, new RegExp(`SHOAL-GUEST probe 10.0.2.2:${service.port} failed`), 'a host-only guest reached a host service');
    assert.equal(service.hits(), 0, 'the host service saw a connection from a host-only guest');
  });

  it('attaches the disks with the sizes asked for; the ext4 disk arrives formatted', T, async () => {
    const text = await driver.console(need(a, 'VM A'));
    assert.equal(diskLine(text, 'ws').bytes, 1 * GIB);
    assert.equal(diskLine(text, 'scratch').bytes, 2 * GIB);
    assert.equal(diskLine(text, 'blob').bytes, 1 * GIB);
    assert.equal(diskData(text, 'ws'), '<none>', 'a fresh reused disk is empty');
    assert.match(text, /SHOAL-GUEST disk-written serial=ws/, 'the guest mounted the ext4 disk and wrote to it');
  });

  it(
    'a second VM that takes the first VM\'s MAC still gets only its own metadata (and "nat" does not reach the host\'s loopback)',
    T,
    async () => {
      const ha = need(a, 'VM A');
      const def = kernelDefinition(guest, {
        cpu: 1,
        ram: 1,
        network: 'nat',
        append: `shoal.mac=${ha} shoal.probe=10.0.2.2:${service.port}`,
        disks: { data: { type: 'ext4', size: 1 } },
      });
      const r = await driver.allocate(def, metaB, { application: `app-b-${run}`, label: `${label}-b`, node: 'test-node' });
      live.add(r.hwaddr);
      meta.data.set(r.hwaddr, metaB);
      b = r.hwaddr;
      assert.notEqual(r.hwaddr, ha);
      await waitForText(() => driver.console(r.hwaddr), /SHOAL-GUEST ready/, BOOT_MS, 'VM B ready');
      const text = await driver.console(r.hwaddr);
      assert.match(text, new RegExp(`SHOAL-GUEST mac=${ha}`), "the guest did change its MAC to the first VM's");
      assert.deepEqual(printedMetadata(text), metaB);
      assert.ok(!text.includes(metaA.TOKEN), "the second VM saw the first VM's metadata");
      assert.match(
        text,
        new RegExp(`SHOAL-GUEST probe 10.0.2.2:${service.port} failed`),
        'a "nat" guest reached the host\'s loopback through 10.0.2.2',
      );
      assert.equal(service.hits(), 0);
      // each VM's QEMU in a network namespace of its own, none spawning relays
      const vm = await qemuByMac(r.hwaddr);
      const vmA = await qemuByMac(ha);
      assert.ok(vm && vmA);
      const nsOf = (pid: number | 'self'): string => readlinkSync(`/proc/${pid}/ns/net`);
      assert.notEqual(nsOf(vm.pid), nsOf('self'));
      assert.notEqual(nsOf(vm.pid), nsOf(vmA.pid));
      for (const v of [vm, vmA]) assert.ok(!v.args.some((x) => x.includes('guestfwd')), 'no guestfwd relay on the command line');
    },
  );

  it("each VM's channel serves its own cloud-init seed only (read from inside the VM's namespace)", T, async () => {
    const ha = need(a, 'VM A');
    const hb = need(b, 'VM B');
    const netA = (await driver.stateOf(ha))?.net;
    assert.ok(netA);
    const hex = (h: string): string => h.replaceAll(':', '');
    // curl from VM A's namespace: the source every connection of VM A has, DNATed to A's channel
    const fromA = (path: string, post?: string): Promise<{ status: string; body: string }> => curlInNs(netA.netns, path, post);
    const own = await fromA(`/nocloud/${hex(ha)}/meta-data`);
    assert.equal(own.status, '200');
    assert.match(own.body, new RegExp(`instance-id: app-a-${run}`));
    assert.match((await fromA(`/nocloud/${hex(ha)}/user-data`)).body, /^#cloud-config\n/);
    assert.equal((await fromA(`/nocloud/${hex(hb)}/meta-data`)).status, '404', "VM A read VM B's seed");
    const hostKey = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dataDir, `hk-${run}`)], { encoding: 'utf8' });
    assert.equal(hostKey.status, 0);
    const report = new URLSearchParams({ pub_key_ed25519: readFileSync(join(dataDir, `hk-${run}.pub`), 'utf8') }).toString();
    assert.equal((await fromA(`/nocloud/${hex(hb)}/phone-home`, report)).status, '404', 'VM A reported host keys for VM B');
    assert.deepEqual((await driver.guestSsh(hb))?.hostKeys, []);
    assert.equal((await fromA(`/nocloud/${hex(ha)}/phone-home`, report)).status, '200');
    const ssh = await driver.guestSsh(ha);
    assert.ok(ssh);
    assert.equal(ssh.hostKeys[0]?.key, readFileSync(join(dataDir, `hk-${run}.pub`), 'utf8').split(' ')[1]);
    assert.equal(ssh.host, netA.nsAddr);
    // the seed is also on the kernel line of a kernel boot, and QEMU forwards the guest's port 22
    const vm = await qemuByMac(ha);
    assert.ok(vm);
    assert.match(vm.args[vm.args.indexOf('-append') + 1] ?? '', new RegExp(`ds=nocloud-net;s=http://169.254.169.254/nocloud/${hex(ha)}/`));
    assert.ok(vm.args.includes(`user,id=net0,ipv6=off,hostfwd=tcp:${netA.nsAddr}:22-:22`));
  });

  it('boots a kernel + initrd with a root disk image (no bootindex clash with -kernel)', T, async () => {
    const def = JSON.stringify({
      options: {
        kernel: { url: guest.kernel.url, sum: guest.kernel.sum },
        initrd: { url: guest.initrd.url, sum: guest.initrd.sum },
        append: 'quiet panic=-1',
        images: [{ url: guest.bootQcow2.url, sum: guest.bootQcow2.sum }],
      },
      requirements: { cpu: 1, ram: 1, network: '' },
    });
    const r = await driver.allocate(def, metaC, { application: `app-k-${run}`, label, node: 'test-node' });
    live.add(r.hwaddr);
    meta.data.set(r.hwaddr, metaC);
    await waitForText(() => driver.console(r.hwaddr), /SHOAL-GUEST ready/, BOOT_MS, 'kernel + disk VM ready');
    const text = await driver.console(r.hwaddr);
    assert.deepEqual(printedMetadata(text), metaC);
    diskLine(text, 'root');
    await driver.deallocate(r.hwaddr);
    live.delete(r.hwaddr);
  });

  it('re-attaches after a driver restart: VMs stay ALLOCATED and the Meta API channel works again', T, async () => {
    const ha = need(a, 'VM A');
    const hb = need(b, 'VM B');
    await waitForText(() => driver.console(ha), /SHOAL-GUEST poll \d+ ok/, BOOT_MS, 'VM A polling');
    await driver.close();
    const before = lastPoll(await driver.console(ha));
    driver = new QemuDriver(testContext(dataDir, meta));
    await driver.prepare(config);
    const listed = await driver.listResources();
    assert.ok(listed.includes(ha) && listed.includes(hb), `listResources after restart: ${listed.join(', ')}`);
    assert.equal(await driver.status(ha), StatusAllocated);
    assert.equal(await driver.status(hb), StatusAllocated);
    // the guest keeps polling every 2 s: a poll numbered after the restart must succeed
    await waitForText(
      async () => {
        const p = lastPoll(await driver.console(ha));
        return p.n > before.n + 1 && p.ok ? 'fresh-ok' : '';
      },
      /fresh-ok/,
      60_000,
      'a successful poll after the restart',
    );
    assert.equal((await driver.fingerprint()).attributes['qemu.vms'], '2');
    // the new channel serves the VM's cloud-init seed again, and the recorded host keys stayed
    const netA = (await driver.stateOf(ha))?.net;
    assert.ok(netA);
    const seed = await curlInNs(netA.netns, `/nocloud/${ha.replaceAll(':', '')}/meta-data`);
    assert.equal(seed.status, '200');
    assert.match(seed.body, new RegExp(`instance-id: app-a-${run}`));
    assert.equal((await driver.guestSsh(ha))?.hostKeys.length, 1, 'the host keys reported before the restart');
  });

  it('snapshot of the data disks gives standalone qcow2 copies, and the VM keeps running', T, async () => {
    const hb = need(b, 'VM B');
    const info = JSON.parse(await driver.snapshot(hb, false)) as SnapshotInfo;
    bSnapshot = info;
    assert.equal(info.full, false);
    assert.equal(info.memory, null);
    assert.deepEqual(Object.keys(info.disks), ['data']);
    const copy = info.disks.data!;
    assert.ok(existsSync(copy.path));
    const qi = await imageInfo('qemu-img', copy.path);
    assert.equal(qi.format, 'qcow2');
    assert.equal(qi.virtualSize, 1 * GIB);
    assert.equal(qi.backing, undefined, 'a snapshot copy must not depend on the VM');
    assert.equal(copy.clone, `${info.id}/data`);
    const vm = await qemuByMac(hb);
    assert.ok(vm);
    assert.equal((await withQmp(vm.qmp, (q) => q.execute<{ status: string }>('query-status'))).status, 'running');
  });

  it('a full snapshot also saves the memory state, and the guest carries on', T, async () => {
    const ha = need(a, 'VM A');
    const info = JSON.parse(await driver.snapshot(ha, true)) as SnapshotInfo;
    assert.equal(info.full, true);
    assert.ok(info.memory && statSync(info.memory.path).size > 1_000_000, 'memory state written');
    assert.deepEqual(Object.keys(info.disks).sort(), ['blob', 'scratch', 'ws']);
    for (const d of Object.values(info.disks)) assert.equal((await imageInfo('qemu-img', d.path)).format, 'qcow2');
    assert.ok(existsSync(join(info.dir, 'snapshot.json')));
    const before = lastPoll(await driver.console(ha));
    await waitForText(
      async () => {
        const p = lastPoll(await driver.console(ha));
        return p.n > before.n && p.ok ? 'alive' : '';
      },
      /alive/,
      60_000,
      'a poll after the full snapshot',
    );
  });

  it('deallocate powers the VM off and leaves no process, socket, overlay or disk (the reused disk stays)', T, async () => {
    const ha = need(a, 'VM A');
    const vm = await qemuByMac(ha);
    assert.ok(vm);
    const state = await driver.stateOf(ha);
    assert.ok(state);
    const reused = state.disks.filter((d) => d.keep).map((d) => d.path);
    const owned = state.disks.filter((d) => !d.keep).map((d) => d.path);
    assert.equal(reused.length, 1);
    assert.equal(owned.length, 2);
    await driver.deallocate(ha);
    live.delete(ha);
    assert.equal(existsSync(`/proc/${vm.pid}/cmdline`) && (await qemuByMac(ha)) !== undefined, false, 'the qemu process is still there');
    assert.equal(await qemuByMac(ha), undefined);
    assert.ok(state.net, "the state names the VM's network");
    for (const p of [
      vm.qmp,
      `/run/netns/${state.net.netns}`,
      `/sys/class/net/${state.net.hostIf}`,
      state.pidFile,
      state.dir,
      state.consoleLog,
      ...owned,
    ]) {
      assert.equal(existsSync(p), false, `${p} was left behind`);
    }
    assert.equal(existsSync(driver.paths().stateDir + `/${ha.replaceAll(':', '')}.json`), false, 'state file left behind');
    for (const p of reused) assert.ok(existsSync(p), `the reused disk ${p} was removed`);
    assert.equal(await driver.status(ha), StatusNone);
    assert.ok(!(await driver.listResources()).includes(ha));
    await driver.deallocate(ha); // idempotent
    await assert.rejects(driver.snapshot(ha, false), (err: unknown) => err instanceof DriverError && err.code === 'NOT_FOUND');
  });

  it('boots from a disk image on an overlay (base never written), reuses the kept disk and clones a snapshot disk', T, async () => {
    const snap = bSnapshot;
    assert.ok(snap, 'the snapshot test failed earlier');
    const def = JSON.stringify({
      options: { images: [{ url: guest.bootQcow2.url, sum: guest.bootQcow2.sum }], firmware: 'seabios' },
      requirements: {
        cpu: 1,
        ram: 1,
        disks: { ws: { type: 'ext4', size: 1, reuse: true }, copy: { type: 'ext4', size: 1, clone: snap.disks.data!.clone } },
      },
    });
    const r = await driver.allocate(def, metaC, { application: `app-c-${run}`, label, node: 'test-node' });
    live.add(r.hwaddr);
    meta.data.set(r.hwaddr, metaC);
    await waitForText(() => driver.console(r.hwaddr), /SHOAL-GUEST ready/, BOOT_MS, 'VM C ready');
    const text = await driver.console(r.hwaddr);
    assert.deepEqual(printedMetadata(text), metaC);
    assert.match(text, /SHOAL-GUEST scribbled/, 'the guest wrote to its boot disk');
    assert.deepEqual(JSON.parse(diskData(text, 'ws')), metaA, 'the reused disk kept what VM A wrote');
    assert.deepEqual(JSON.parse(diskData(text, 'copy')), metaB, 'the cloned disk has what VM B wrote');
    diskLine(text, 'root');
    const state = await driver.stateOf(r.hwaddr);
    assert.ok(state);
    const root = state.disks.find((d) => d.name === 'root');
    assert.ok(root);
    const overlay = await imageInfo('qemu-img', root.path);
    assert.equal(overlay.format, 'qcow2');
    assert.ok(overlay.backing, 'the root disk is an overlay');
    assert.equal(await sha256File(overlay.backing), guest.bootQcow2.sum, 'the base image was written to');
    await driver.deallocate(r.hwaddr);
    live.delete(r.hwaddr);
    assert.equal(await qemuByMac(r.hwaddr), undefined);
    assert.equal(existsSync(root.path), false, 'overlay left behind');
    assert.ok(existsSync(overlay.backing), 'the cached base image must stay');
  });

  it('a failed allocation leaves nothing behind (bad clone; qemu refusing to start)', T, async () => {
    const listBefore = await driver.listResources();
    const vmsBefore = readdirSync(driver.paths().vmsDir).sort();
    const badClone = kernelDefinition(guest, { disks: { x: { type: 'qcow2', size: 1, clone: 'no-such-snapshot/x' } } });
    await assert.rejects(
      driver.allocate(badClone, {}),
      (err: unknown) => err instanceof DriverError && err.code === 'INVALID_DEFINITION' && err.field === 'requirements.disks.x.clone',
    );
    assert.deepEqual(await driver.listResources(), listBefore);
    assert.deepEqual(readdirSync(driver.paths().vmsDir).sort(), vmsBefore);
    // a firmware file qemu cannot load: fails after the overlay, disks, a new reused disk and the
    // Meta API channel exist (own data dir, so what is left can be seen plainly)
    const junk = join(brokenDir, 'junk.rom');
    await writeFile(junk, 'not a bios');
    const broken = new QemuDriver(testContext(brokenDir, meta));
    extraDrivers.push(broken);
    await broken.prepare(JSON.stringify({ firmware: { junk } }));
    const def = JSON.stringify({
      options: { images: [{ url: guest.bootQcow2.url, sum: guest.bootQcow2.sum }], firmware: 'junk' },
      requirements: { cpu: 1, ram: 1, disks: { fresh: { type: 'ext4', size: 1, reuse: true }, tmp: { type: 'raw', size: 1 } } },
    });
    await assert.rejects(broken.allocate(def, {}, { application: 'x', label: `${label}-broken`, node: 'n' }), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'BACKEND');
      assert.match(err.message, /qemu did not start.*BIOS/s);
      return true;
    });
    const p = broken.paths();
    assert.deepEqual(await broken.listResources(), []);
    assert.deepEqual(readdirSync(p.vmsDir), [], 'VM dir left behind');
    assert.deepEqual(readdirSync(p.stateDir), [], 'state file left behind');
    assert.deepEqual(readdirSync(p.socketDir), [], 'socket left behind');
    const disks = readdirSync(p.reuseDir, { recursive: true })
      .map(String)
      .filter((f) => /\.(raw|qcow2)$/.test(f));
    assert.deepEqual(disks, [], 'the reused disk made by the failed allocation stayed');
    await broken.close();
  });

  it('deallocating the last VM leaves the data dir without VMs, sockets or state', T, async () => {
    const hb = need(b, 'VM B');
    await driver.deallocate(hb);
    live.delete(hb);
    assert.equal(await qemuByMac(hb), undefined);
    assert.deepEqual(await driver.listResources(), []);
    assert.deepEqual(readdirSync(driver.paths().vmsDir), []);
    assert.deepEqual(readdirSync(driver.paths().stateDir), []);
    assert.deepEqual(readdirSync(driver.paths().socketDir), []);
  });
});
