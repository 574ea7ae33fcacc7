import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DriverError, StatusAllocated, StatusNone } from '../../contract/index.js';
import { bridgeName, Firewall } from './firewall.js';
import { execIn, resourceTraces, traces } from './test-helpers/harness.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

const T = { timeout: 240_000 };

/** The cgroup v1 file of a process for a controller, e.g. ("memory", "memory.limit_in_bytes"). */
function cgroupFile(pid: number, controller: string, file: string): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.split(':')[1]?.split(',').includes(controller));
  assert.ok(line, `no ${controller} cgroup for pid ${pid}`);
  const path = line.split(':').slice(2).join(':');
  return readFileSync(join('/sys/fs/cgroup', controller, path, file), 'utf8').trim();
}

/** A host-side HTTP server on 0.0.0.0:port that counts connections. */
async function hostServer(): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server = http.createServer((_req, res) => res.end('hello from the host'));
  server.on('connection', () => n++);
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => n,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function gateway(s: Suite, network: string): Promise<string> {
  const info = (await s.h.docker.getNetwork(network).inspect()) as { IPAM: { Config: Array<{ Gateway?: string }> } };
  const gw = info.IPAM.Config[0]?.Gateway;
  assert.ok(gw, `network ${network} has no gateway`);
  return gw;
}

/** busybox wget bounded by `timeout` (busybox 1.35's own -T is unreliable). */
const fetchCmd = (url: string, seconds = 5): string[] => ['timeout', '-s', 'KILL', String(seconds), 'wget', '-q', '-O', '-', url];

describe('docker driver: containers, limits, identity, networks', { timeout: 900_000 }, () => {
  let s: Suite;
  let server: Awaited<ReturnType<typeof hostServer>>;
  const secret = `S3CR3T-${randomBytes(6).toString('hex')}`;
  let first: { hwaddr: string; ipaddr: string; container: string } | undefined;

  before(async () => {
    s = await createSuite('drv');
    server = await hostServer();
  }, T);

  after(async () => {
    await server?.close();
    await s?.destroy();
  }, T);

  it('allocates a container with the asked cpu, ram, pids limit and MAC (seen from outside and in cgroups)', T, async () => {
    const metadata = { JOB: '42', 'api.token': secret, n: 7 };
    const r = await s.allocate(s.basic({ cpu: 1, ram: 1 }), metadata, s.context());
    first = r;
    s.h.meta.register(r.hwaddr, r.ipaddr, metadata);
    const list = await s.h.docker.listContainers({ filters: JSON.stringify({ label: [`shoal.resource=${r.hwaddr}`] }) });
    assert.equal(list.length, 1, 'exactly one running container carries the hwaddr label');
    const info = await s.h.docker.getContainer(list[0]!.Id).inspect();
    assert.equal(info.HostConfig.NanoCpus, 1e9);
    assert.equal(info.HostConfig.Memory, 1024 ** 3);
    assert.equal(info.HostConfig.PidsLimit, 4096);
    assert.equal(info.HostConfig.Init, true);
    assert.equal((info.Config as { MacAddress?: string }).MacAddress, r.hwaddr);
    const ep = info.NetworkSettings.Networks[s.h.networks.hostonly];
    assert.ok(ep, 'attached to the host-only network');
    assert.equal(ep.MacAddress, r.hwaddr);
    assert.equal(ep.IPAddress, r.ipaddr);
    assert.deepEqual(info.HostConfig.Dns, [await gateway(s, s.h.networks.hostonly)], 'host-only DNS goes only to the (firewalled) gateway');
    assert.deepEqual(info.HostConfig.CapDrop, ['NET_RAW']);
    assert.deepEqual(
      ['shoal.node', 'shoal.instance', 'shoal.application', 'shoal.label'].map((k) => info.Config.Labels[k]),
      [s.h.nodeName, s.h.instance, `app-${s.h.prefix}`, `${s.h.prefix}-label`],
    );
    // the kernel's view
    const pid = info.State.Pid;
    assert.equal(cgroupFile(pid, 'cpu', 'cpu.cfs_quota_us'), String(Number(cgroupFile(pid, 'cpu', 'cpu.cfs_period_us'))));
    assert.equal(cgroupFile(pid, 'memory', 'memory.limit_in_bytes'), String(1024 ** 3));
    assert.equal(cgroupFile(pid, 'pids', 'pids.max'), '4096');
    // and from inside
    const mac = await execIn(s.h.docker, r.container, ['cat', '/sys/class/net/eth0/address']);
    assert.equal(mac.out.trim(), r.hwaddr);
    assert.equal(await s.driver.status(r.hwaddr), StatusAllocated);
  });

  it('hands metadata in as env vars and through the Meta API on the gateway; never logs values', T, async () => {
    assert.ok(first, 'the first allocation failed');
    const env = await execIn(s.h.docker, first.container, ['env']);
    const vars = new Map(
      env.out
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    assert.equal(vars.get('JOB'), '42');
    assert.equal(vars.get('api_token'), secret);
    assert.equal(vars.get('n'), '7');
    const gw = await gateway(s, s.h.networks.hostonly);
    assert.equal(vars.get('SHOAL_META_URL'), `http://${gw}:${s.h.metaPort}`);
    const meta = await execIn(s.h.docker, first.container, ['sh', '-c', `${fetchCmd('"$SHOAL_META_URL/meta/v1/data"').join(' ')}`]);
    assert.equal(meta.code, 0, meta.out);
    assert.deepEqual(JSON.parse(meta.out), { JOB: '42', 'api.token': secret, n: 7 });
    assert.ok(!s.h.log.text().includes(secret), 'a metadata value reached the log');
  });

  it('host-only: the container reaches only the Meta API port, not other host ports nor other containers', T, async () => {
    assert.ok(first, 'the first allocation failed');
    const gw = await gateway(s, s.h.networks.hostonly);
    // the host really serves that port on every address (checked from the host itself)
    const fromHost = await fetch(`http://127.0.0.1:${server.port}/`);
    assert.equal(await fromHost.text(), 'hello from the host');
    const before = server.connections();
    const blocked = await execIn(s.h.docker, first.container, fetchCmd(`http://${gw}:${server.port}/`, 4));
    assert.notEqual(blocked.code, 0, `reached a host port it must not: ${blocked.out}`);
    assert.equal(server.connections(), before, 'the host server saw a connection from the host-only container');
    const meta = await execIn(s.h.docker, first.container, fetchCmd(`http://${gw}:${s.h.metaPort}/meta/v1/data`));
    assert.equal(meta.code, 0, 'the Meta API port must stay reachable');
    const v6 = await execIn(s.h.docker, first.container, ['cat', '/proc/sys/net/ipv6/conf/all/disable_ipv6']);
    assert.equal(v6.out.trim(), '1', 'IPv6 (link-local paths to the host) is off');
    // a second host-only container cannot reach a server in the first one
    await execIn(s.h.docker, first.container, ['sh', '-c', 'mkdir -p /www && echo inside > /www/index.html && httpd -p 8080 -h /www']);
    const self = await execIn(s.h.docker, first.container, fetchCmd('http://127.0.0.1:8080/'));
    assert.equal(self.out.trim(), 'inside', 'the in-container server runs');
    const other = await s.allocate(s.basic(), {}, s.context());
    const cross = await execIn(s.h.docker, other.container, fetchCmd(`http://${first.ipaddr}:8080/`, 4));
    assert.notEqual(cross.code, 0, `one host-only container reached another: ${cross.out}`);
    await s.deallocate(other.hwaddr);
  });

  it('nat: loads a docker-save archive (xz), reaches the Meta API, not a host-side server nor other containers', T, async () => {
    const def = s.def({ image: s.imgs.saveTag, images: [s.imgs.save] }, { network: 'nat' });
    const r = await s.allocate(def, { K: 'v' }, s.context());
    s.h.meta.register(r.hwaddr, r.ipaddr, { K: 'v' });
    const info = await s.h.docker.getContainer(r.container).inspect();
    assert.deepEqual(info.Config.Cmd, ['sleep', '3600'], 'the image default command from the archive');
    const gw = await gateway(s, s.h.networks.nat);
    const before = server.connections();
    const out = await execIn(s.h.docker, r.container, fetchCmd(`http://${gw}:${server.port}/`, 4));
    assert.notEqual(out.code, 0, `a nat container reached a host service on its gateway: ${out.out}`);
    assert.equal(server.connections(), before);
    const meta = await execIn(s.h.docker, r.container, ['sh', '-c', fetchCmd('"$SHOAL_META_URL/meta/v1/data"').join(' ')]);
    assert.deepEqual(JSON.parse(meta.out), { K: 'v' });
    // nat containers are still isolated from each other
    await execIn(s.h.docker, r.container, ['sh', '-c', 'mkdir -p /www && echo inside > /www/index.html && httpd -p 8080 -h /www']);
    assert.equal((await execIn(s.h.docker, r.container, fetchCmd('http://127.0.0.1:8080/'))).out.trim(), 'inside');
    const other = await s.allocate(def, {}, s.context());
    const cross = await execIn(s.h.docker, other.container, fetchCmd(`http://${r.ipaddr}:8080/`, 4));
    assert.notEqual(cross.code, 0, `one nat container reached another: ${cross.out}`);
    await s.deallocate(other.hwaddr);
    await s.deallocate(r.hwaddr);
    assert.equal(await s.driver.status(r.hwaddr), StatusNone);
    const nets = (await s.h.docker.listNetworks()).map((n) => n.Name);
    assert.ok(nets.includes(s.h.networks.nat), 'the nat network stays after its last container (the next one does not pay for it)');
    assert.ok(nets.includes(s.h.networks.hostonly), 'the host-only network is still used by the first container');
  });

  it('deallocate stops and removes the container (networks stay); status NONE; idempotent', T, async () => {
    assert.ok(first, 'the first allocation failed');
    assert.ok((await resourceTraces(s.h)).length > 0, 'there was something to remove');
    await s.deallocate(first.hwaddr);
    assert.equal(await s.driver.status(first.hwaddr), StatusNone);
    assert.deepEqual(await resourceTraces(s.h), []);
    const left = await traces(s.h);
    assert.ok(left.includes(`network ${s.h.networks.hostonly}`), `the host-only network stays for the next allocation: ${left.join(', ')}`);
    assert.ok(
      left.some((t) => t.startsWith('rule ') && t.includes(bridgeName(s.h.networks.hostonly))),
      'its rules stay',
    );
    await s.driver.deallocate(first.hwaddr);
    assert.deepEqual(await s.driver.listResources(), []);
  });

  it('refuses an image with a wrong checksum, naming only the expected sum, and leaves nothing behind', T, async () => {
    const wrong = `sha256:${'0'.repeat(64)}`;
    const def = s.def({ image: `${s.h.prefix}-bad:1`, images: [{ url: s.imgs.rootfs.url, sum: wrong }], command: ['sleep', '1'] });
    await assert.rejects(s.driver.allocate(def, {}, s.context()), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'IMAGE');
      assert.ok(err.message.includes(wrong), err.message);
      assert.ok(
        !err.message.includes(s.imgs.rootfs.sum.slice('sha256:'.length)),
        `the file's real checksum must not be told: ${err.message}`,
      );
      return true;
    });
    assert.deepEqual(await resourceTraces(s.h), []);
    assert.deepEqual(await s.driver.listResources(), []);
    const cached = readdirSync(join(s.h.dataDir, 'images'));
    assert.ok(!cached.some((f) => f.includes('0'.repeat(64)) || f.startsWith('.tmp')), `cache holds ${cached.join(', ')}`);
  });

  it('a failure after the container was created removes everything (container, disk, mount, loop device)', T, async () => {
    const def = s.basic({ disks: { ws: { type: 'ext4', size: 1 } } }, { user: 'nosuchuser' });
    await assert.rejects(s.driver.allocate(def, {}, s.context()), (err: unknown) => {
      assert.ok(err instanceof DriverError);
      assert.equal(err.code, 'BACKEND');
      assert.match(err.message, /nosuchuser/);
      return true;
    });
    assert.deepEqual(await resourceTraces(s.h), []);
  });

  it('reports capacity and a healthy fingerprint from the daemon', T, async () => {
    const info = (await s.h.docker.info()) as { NCPU: number; MemTotal: number };
    const cap = await s.driver.capacity();
    assert.equal(cap.cpu, info.NCPU);
    assert.equal(cap.ram, Math.floor(info.MemTotal / 1024 ** 3));
    const fp = await s.driver.fingerprint();
    assert.equal(fp.health, 'healthy');
    assert.equal(fp.attributes['docker.api'], ((await s.h.docker.version()) as { ApiVersion: string }).ApiVersion);
    await assert.rejects(
      s.driver.allocate(s.basic({ cpu: info.NCPU + 1 }), {}, s.context()),
      (e: unknown) => e instanceof DriverError && e.code === 'NO_CAPACITY',
    );
  });
  it(
    'networks live as long as the driver: close() removes the unused ones, keeps one a container uses; prepare takes it over',
    T,
    async () => {
      const hostonly = s.h.networks.hostonly;
      const before = await s.h.docker.getNetwork(hostonly).inspect();
      const r = await s.allocate(s.basic(), {}, s.context());
      assert.equal((await s.h.docker.getNetwork(hostonly).inspect()).Id, before.Id, 'the allocation used the network that was there');
      await s.driver.close();
      const nets = (await s.h.docker.listNetworks()).map((n) => n.Name);
      assert.ok(nets.includes(hostonly), 'a network with a container stays at shutdown');
      assert.ok(!nets.includes(s.h.networks.nat), 'the unused nat network is removed at shutdown');
      assert.deepEqual(await Firewall.listRules({ network: s.h.networks.nat, bridge: bridgeName(s.h.networks.nat) }), []);
      assert.ok(
        (await Firewall.listRules({ network: hostonly, bridge: bridgeName(hostonly) })).length > 0,
        'the kept network keeps its rules',
      );
      assert.deepEqual([...s.h.meta.listening], [], 'no Meta API listener stays open');
      // the next run (prepare) takes the network over: its listener is back, the container is its own
      const fresh = await s.h.newDriver();
      try {
        assert.deepEqual([...s.h.meta.listening], [`${await gateway(s, hostonly)}:${s.h.metaPort}`]);
        assert.deepEqual(await fresh.listResources(), [r.hwaddr]);
        await fresh.deallocate(r.hwaddr);
        s.live.delete(r.hwaddr);
      } finally {
        await fresh.close();
      }
      assert.deepEqual(await traces(s.h), [], 'nothing is left after a clean shutdown with no container');
      // the first driver (closed) makes the network again when it is asked for a container
      const again = await s.allocate(s.basic(), {}, s.context());
      await s.deallocate(again.hwaddr);
    },
  );
});

describe('docker driver: prepare', { timeout: 120_000 }, () => {
  it('names the field of a bad config and explains a missing or silent daemon', { timeout: 60_000 }, async () => {
    const { DockerDriver } = await import('./driver.js');
    const { TestMeta } = await import('./test-helpers/test-meta.js');
    const { memoryLog } = await import('./test-helpers/harness.js');
    const net = await import('node:net');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'shoal-docker-prep-'));
    try {
      const d = new DockerDriver({ instance: 'docker/prep', nodeName: 'n', dataDir: dir, log: memoryLog(), meta: new TestMeta() });
      await assert.rejects(
        d.prepare('{"meta_port":"80"}'),
        (e: unknown) => e instanceof DriverError && e.code === 'INVALID_CONFIG' && e.field === 'meta_port',
      );
      await assert.rejects(d.prepare(JSON.stringify({ socket: join(dir, 'none.sock') })), (e: unknown) => {
        assert.ok(e instanceof DriverError && e.code === 'BACKEND', String(e));
        assert.match(e.message, /none\.sock does not exist/);
        return true;
      });
      // a socket that accepts but never answers
      const conns = new Set<import('node:net').Socket>();
      const silent = net.createServer((c) => void conns.add(c));
      const sock = join(dir, 'silent.sock');
      await new Promise<void>((r) => silent.listen(sock, r));
      try {
        await assert.rejects(d.prepare(JSON.stringify({ socket: sock })), (e: unknown) => {
          assert.ok(e instanceof DriverError && e.code === 'BACKEND', String(e));
          assert.match(e.message, /no answer/);
          return true;
        });
        const fp = await d.fingerprint();
        assert.equal(fp.health, 'unhealthy');
        assert.match(fp.description, /no answer/);
      } finally {
        for (const c of conns) c.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
      await assert.rejects(d.status('02:00:00:00:00:01'), /not prepared/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
