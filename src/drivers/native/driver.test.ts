/**
 * The native driver against the real kernel, checked from outside: cgroup files, /proc, the
 * host's mounts and links, a host listener the sandbox must not reach.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StatusAllocated, StatusNone } from '../../contract/index.js';
import { run } from '../shared/exec.js';
import { listMounts } from '../shared/mounts.js';
import { hostAddress, hostService, type HostService } from '../shared/testing/host-service.js';
import type { NativeDriver } from './driver.js';
import { FakeMeta, nativeDefinition, procStatus, testDriver, waitForText } from './test-support.js';

const T = { timeout: 120_000 };
const PIDS = 48;
/** bounded in count (attempts) and time (curl -m) */
const CURL = 'curl -s -m 2 -o /dev/null -w "%{http_code}"';

describe('native driver: limits, identity and isolation from outside', { timeout: 600_000 }, () => {
  const meta = new FakeMeta();
  let driver: NativeDriver;
  let dataDir: string;
  let cleanup: () => Promise<void>;
  let service: HostService;
  let loopService: HostService;

  before(async () => {
    // as in a node process (umask 077): what the sandbox uid must reach gets its modes anyway
    process.umask(0o077);
    ({ driver, dataDir, cleanup } = await testDriver('iso', { pids_limit: PIDS }, meta));
    service = await hostService(hostAddress());
    loopService = await hostService('127.0.0.1');
  }, T);

  after(async () => {
    await service?.close();
    await loopService?.close();
    await cleanup?.();
  }, T);

  it('the cgroup files hold the limits; /proc shows the sandbox uid, no capabilities, no new privileges, seccomp', T, async () => {
    const r = await driver.allocate(nativeDefinition({}, { cpu: 2, ram: 1 }), {}, { application: 'a1', label: 'l', node: 'n' });
    const state = await driver.stateOf(r.hwaddr);
    assert.ok(state?.initPid && state.uid >= 200000, 'state with a pid and a uid of the range');
    const { cgroups } = driver.internals();
    const id = r.hwaddr.replaceAll(':', '');
    if (cgroups.version === 1) {
      const [mem, cpu, pids] = cgroups.dirs(id) as [string, string, string];
      assert.equal(readFileSync(join(mem, 'memory.limit_in_bytes'), 'utf8').trim(), String(1024 ** 3));
      if (cgroups.swapLimited) assert.equal(readFileSync(join(mem, 'memory.memsw.limit_in_bytes'), 'utf8').trim(), String(1024 ** 3));
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim(), '200000');
      assert.equal(readFileSync(join(cpu, 'cpu.cfs_period_us'), 'utf8').trim(), '100000');
      assert.equal(readFileSync(join(pids, 'pids.max'), 'utf8').trim(), String(PIDS));
    } else {
      const [dir] = cgroups.dirs(id) as [string];
      assert.equal(readFileSync(join(dir, 'memory.max'), 'utf8').trim(), String(1024 ** 3));
      assert.equal(readFileSync(join(dir, 'cpu.max'), 'utf8').trim(), '200000 100000');
      assert.equal(readFileSync(join(dir, 'pids.max'), 'utf8').trim(), String(PIDS));
    }
    // every process of the sandbox is in its cgroup, runs as its uid without any capability
    const pids = await cgroups.pids(id);
    assert.ok(pids.includes(state.initPid), 'the init is in the cgroup');
    const passwd = await readFile('/etc/passwd', 'utf8');
    assert.ok(!passwd.split('\n').some((l) => l.split(':')[2] === String(state.uid)), 'the uid is no host user');
    for (const pid of pids) {
      const s = await procStatus(pid);
      assert.equal(s.Uid, `${state.uid}\t${state.uid}\t${state.uid}\t${state.uid}`, `pid ${pid} Uid`);
      assert.equal(s.Gid, `${state.uid}\t${state.uid}\t${state.uid}\t${state.uid}`, `pid ${pid} Gid`);
      for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.equal(s[cap], '0000000000000000', `pid ${pid} ${cap}`);
      assert.equal(s.NoNewPrivs, '1', `pid ${pid} NoNewPrivs`);
    }
    // the command (the init's child) runs under the seccomp filter
    const children = (await readFile(`/proc/${state.initPid}/task/${state.initPid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
    assert.ok(children.length > 0, 'the init has the command as its child');
    assert.equal((await procStatus(children[0]!)).Seccomp, '2');
    assert.equal(await driver.status(r.hwaddr), StatusAllocated);
    await driver.deallocate(r.hwaddr);
    assert.equal(await driver.status(r.hwaddr), StatusNone);
    assert.equal(existsSync(`/proc/${state.initPid}/status`) && (await procStatus(state.initPid)).State?.startsWith('Z') !== true, false);
    assert.equal(await cgroups.exists(id), false, 'cgroup removed');
  });

  it(
    'inside: the Meta API answers as this sandbox; blocked system calls fail; host users, the data dir and other sandboxes are not there',
    T,
    async () => {
      const script = [
        // the test sets the metadata once allocate returned: ask until it is there (10 tries at most)
        'for i in 1 2 3 4 5 6 7 8 9 10; do m=$(curl -s -f -m 2 "$SHOAL_META_URL") && break; sleep 0.3; done; echo "meta=$m"',
        'perl -e \'syscall(250,0,0,0,0); print "keyctl=", $!+0, "\\n"\'',
        'unshare -U true 2>/dev/null; echo "unshare=$?"',
        `ls ${dataDir} >/dev/null 2>&1; echo "datadir=$?"`,
        'ls /run/shoal-native >/dev/null 2>&1; echo "sandboxdir=$?"',
        'cat /etc/shadow >/dev/null 2>&1; echo "shadow=$?"',
        `echo "procs=$(ls /proc | grep -c "^[0-9]") nodepid=$([ -e /proc/${process.pid}/cmdline ] && echo visible || echo hidden)"`,
        'echo "home=$HOME $(touch ~/f && echo writable)"',
        'echo "usr=$(touch /usr/x 2>/dev/null && echo writable || echo readonly)"',
        'exec sleep 600',
      ].join('; ');
      const r = await driver.allocate(
        nativeDefinition({ command: ['/bin/sh', '-c', script] }),
        {},
        { application: 'a2', label: 'l', node: 'n' },
      );
      meta.data.set(r.hwaddr, { WHO: r.hwaddr });
      const text = (await waitForText(() => driver.console(r.hwaddr), /usr=\w+/, 30_000, 'the sandbox script'))[0];
      const con = await driver.console(r.hwaddr);
      assert.match(con, new RegExp(`meta=\\{"WHO":"${r.hwaddr}"\\}`), `metadata read from inside: ${con}`);
      assert.match(con, /keyctl=1\n/, 'keyctl fails with EPERM (seccomp)');
      assert.match(con, /unshare=1\n/, 'no new namespaces');
      assert.match(con, /datadir=2\n/, 'the data dir does not exist inside');
      assert.match(con, /sandboxdir=2\n/, 'the sandboxes folder does not exist inside');
      assert.match(con, /shadow=1\n/, '/etc/shadow is not there');
      const procs = /procs=(\d+) nodepid=(\w+)/.exec(con);
      assert.ok(procs && Number(procs[1]) < 10, `only its own few processes are visible: ${procs?.[0]}`);
      assert.equal(procs[2], 'hidden', "the node's process is not visible");
      assert.match(con, /home=\/home\/shoal writable/);
      assert.equal(text, 'usr=readonly');
      await driver.deallocate(r.hwaddr);
    },
  );

  it("sandbox A cannot read B's disk or files, from inside nor as its uid on the host", T, async () => {
    const b = await driver.allocate(
      nativeDefinition(
        { command: ['/bin/sh', '-c', 'echo secret-b > /mnt/ws/secret; echo home-b > ~/secret; echo written; exec sleep 600'] },
        { disks: { ws: { type: 'dir', size: 1 } } },
      ),
      {},
      { application: 'b', label: 'lb', node: 'n' },
    );
    await waitForText(() => driver.console(b.hwaddr), /written/, 30_000, 'B wrote its files');
    const bState = (await driver.stateOf(b.hwaddr))!;
    const bDisk = bState.disks[0]!.mnt;
    const bHome = `/proc/${bState.initPid}/root/home/shoal/secret`;
    const a = await driver.allocate(
      nativeDefinition({
        command: ['/bin/sh', '-c', `cat ${bDisk}/secret 2>&1; echo "disk=$?"; cat ${bHome} 2>&1; echo "home=$?"; exec sleep 600`],
      }),
      {},
      { application: 'a', label: 'la', node: 'n' },
    );
    await waitForText(() => driver.console(a.hwaddr), /home=\d+/, 30_000, 'A tried');
    const con = await driver.console(a.hwaddr);
    assert.doesNotMatch(con, /secret-b|home-b/, con);
    assert.match(con, /disk=1/);
    assert.match(con, /home=1/);
    // as A's uid on the host itself (no sandbox at all), B's disk root (0700, B's uid) is closed
    const aUid = (await driver.stateOf(a.hwaddr))!.uid;
    const outside = await run('setpriv', [`--reuid=${aUid}`, `--regid=${aUid}`, '--clear-groups', 'cat', `${bDisk}/secret`], {
      allowFailure: true,
    });
    assert.notEqual(outside.code, 0);
    assert.match(outside.stderr, /Permission denied/);
    assert.equal(readFileSync(`${bDisk}/secret`, 'utf8'), 'secret-b\n', 'the file is there (root reads it)');
    await driver.deallocate(a.hwaddr);
    await driver.deallocate(b.hwaddr);
    assert.equal(existsSync(bDisk), false, "B's mount point is gone");
    assert.ok(!(await listMounts()).some((m) => m.mountPoint.startsWith(bDisk)), "B's disk is unmounted");
  });

  for (const network of ['', 'nat']) {
    it(
      `network "${network}": only the Meta API is reachable on the host — not a host service, not the host's loopback, not the veth's host end`,
      T,
      async () => {
        const [svcHost, svcPort] = service.target.split(':') as [string, string];
        const loopPort = loopService.target.split(':')[1]!;
        const script = [
          `for i in 1 2 3 4 5 6 7 8 9 10; do c=$(${CURL} "$SHOAL_META_URL"); [ "$c" = 200 ] && break; sleep 0.3; done; echo "meta=$c"`,
          `echo "hostsvc=$(${CURL} http://${service.target}/)"`,
          `echo "gw=$(${CURL} http://$(ip route | awk '/via/ {print $3; exit}'):${svcPort}/)"`,
          `echo "loop=$(${CURL} http://127.0.0.1:${loopPort}/)"`,
          'echo done',
          'exec sleep 600',
        ].join('; ');
        const before = service.hits() + loopService.hits();
        const r = await driver.allocate(
          nativeDefinition({ command: ['/bin/sh', '-c', script] }, { network }),
          {},
          { application: 'n', label: 'l', node: 'n' },
        );
        meta.data.set(r.hwaddr, { ok: true });
        await waitForText(() => driver.console(r.hwaddr), /done/, 30_000, 'reach script');
        const con = await driver.console(r.hwaddr);
        assert.match(con, /meta=200/, con);
        assert.match(con, /hostsvc=000/, `host service ${svcHost} reached: ${con}`);
        assert.match(con, /gw=000/, con);
        assert.match(con, /loop=000/, con);
        assert.equal(service.hits() + loopService.hits(), before, 'the host listeners saw no connection');
        await driver.deallocate(r.hwaddr);
      },
    );
  }

  it('a memory hog is OOM-killed inside its cgroup; the sandbox and the node go on', T, async () => {
    const hog = 'perl -e \'$x = "a" x (3 * 1024 ** 3); print "survived\\n"\'; echo "hog exit $?"; exec sleep 600';
    const r = await driver.allocate(
      nativeDefinition({ command: ['/bin/sh', '-c', hog] }, { ram: 1 }),
      {},
      { application: 'oom', label: 'l', node: 'n' },
    );
    await waitForText(() => driver.console(r.hwaddr), /hog exit \d+/, 60_000, 'the hog ended');
    const con = await driver.console(r.hwaddr);
    assert.doesNotMatch(con, /survived/);
    assert.match(con, /hog exit 137/, 'SIGKILL (the OOM killer)');
    const { cgroups } = driver.internals();
    const id = r.hwaddr.replaceAll(':', '');
    const oomFile = cgroups.version === 1 ? join(cgroups.dirs(id)[0]!, 'memory.oom_control') : join(cgroups.dirs(id)[0]!, 'memory.events');
    assert.match(await readFile(oomFile, 'utf8'), /oom_kill [1-9]/, 'the kill was in this cgroup');
    assert.equal(await driver.status(r.hwaddr), StatusAllocated, 'the sandbox itself lives on');
    await driver.deallocate(r.hwaddr);
  });

  it('a fork bomb hits the pids limit (bounded: 400 forks at most)', T, async () => {
    const bomb =
      'perl -e \'my $n = 0; for (1 .. 400) { my $p = fork(); next unless defined $p; if ($p == 0) { sleep 600; exit 0 } $n++ } print "forked $n\\n"\'; exec sleep 600';
    const r = await driver.allocate(
      nativeDefinition({ command: ['/bin/sh', '-c', bomb] }),
      {},
      { application: 'fork', label: 'l', node: 'n' },
    );
    const forked = await waitForText(() => driver.console(r.hwaddr), /forked (\d+)/, 60_000, 'the fork loop ended');
    assert.ok(Number(forked[1]) < PIDS, `forks that succeeded: ${forked[1]}`);
    const { cgroups } = driver.internals();
    const id = r.hwaddr.replaceAll(':', '');
    const count = (await cgroups.pids(id)).length;
    assert.ok(count <= PIDS && count >= PIDS - 4, `processes in the cgroup: ${count} (limit ${PIDS})`);
    if (cgroups.version === 1) {
      const pidsDir = cgroups.dirs(id)[2]!;
      assert.match(await readFile(join(pidsDir, 'pids.events'), 'utf8'), /max [1-9]/, 'forks were refused');
    }
    await driver.deallocate(r.hwaddr);
    assert.deepEqual(await cgroups.pids(id), [], 'every process is gone');
  });

  it('refuses what it cannot do, naming the field, and leaves nothing behind', T, async () => {
    const before = await driver.listResources();
    await assert.rejects(driver.allocate(nativeDefinition({ command: ['no-such-program-here'] }), {}), /options\.command\[0\]/);
    await assert.rejects(
      driver.allocate(nativeDefinition({ mounts: [{ source: '/opt' }] }), {}),
      /options\.mounts\[0\]\.source.*allows no host mounts/,
    );
    await assert.rejects(driver.allocate(nativeDefinition({ user: 'root' }), {}), /options\.user/);
    assert.deepEqual(await driver.listResources(), before);
  });
});
