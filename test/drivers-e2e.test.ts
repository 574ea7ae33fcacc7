// The real drivers behind a real node process: a docker container and a qemu VM get their metadata
// from the node's own Meta API (not a test stand-in), the limits reach the backend, deallocation
// leaves nothing, and a node killed mid-allocation leaves no orphan after its restart.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { ShoalClient } from '../src/client/index.js';
import { connectEngine } from '../src/drivers/docker/engine.js';
import { buildTestImages, type TestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import { execIn } from '../src/drivers/docker/test-helpers/harness.js';
import { buildTestGuest, kernelDefinition } from '../src/drivers/qemu/test-support.js';
import { freePort } from './helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

async function containersOf(docker: Docker, app: string): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.application=${app}`] }) });
  return list.map((c) => c.Id);
}

/** qemu processes whose command line carries this MAC (from /proc, not from the driver) */
function qemuProcessesWithMac(mac: string): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      if (cmd.startsWith('/usr/bin/qemu-system') || cmd.includes('qemu-system-x86_64')) {
        if (cmd.toLowerCase().includes(mac.toLowerCase())) pids.push(Number(d));
      }
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

describe('docker driver behind a real node', { timeout: 300_000 }, () => {
  const prefix = `e2e${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  let images: TestImages;
  let node: NodeProcess;
  let client: ShoalClient;
  let config: Record<string, unknown>;

  before(async () => {
    mkdirSync(join(dir, 'fixtures'));
    images = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    config = {
      capacity: { cpu: 16, ram: 16 },
      fetch: { allow_files: [join(dir, 'fixtures')] }, // the test's image archives (only DATA_DIR/import is allowed by default)
      drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 16, ram: 16 } },
    };
    node = await startNodeProcess({ dataDir: join(dir, 'node'), config, name: `e2e-${prefix}` });
    client = new ShoalClient({ url: node.apiUrl, token: node.token });
    await client.createLabel({
      name: 'box',
      definitions: [
        {
          driver: 'docker',
          options: { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '3600'] },
          requirements: { cpu: 1, ram: 1, network: '' },
        },
      ],
      metadata: { SECRET: 'from-the-label', SHARED: 'label' },
    });
  });
  after(async () => {
    await node?.kill();
    const left = await docker
      .listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.node=e2e-${prefix}`] }) })
      .catch(() => []);
    for (const c of left)
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    for (const img of [...(images?.createdImages ?? []), `${prefix}-img:1`])
      await docker
        .getImage(img)
        .remove({ force: true })
        .catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a container reads its merged metadata from the node, has its limits, and is gone after deallocate', async () => {
    const app = await client.createApplication({ label: 'box', metadata: { JOB: '7', SHARED: 'app' } });
    await waitForState(client, app.uid, ['ALLOCATED'], 120_000);
    const res = await client.getResource(app.uid);
    const ids = await containersOf(docker, app.uid);
    assert.equal(ids.length, 1);
    const info = await docker.getContainer(ids[0]!).inspect();
    assert.equal(info.HostConfig.NanoCpus, 1e9);
    assert.equal(info.HostConfig.Memory, 1024 ** 3);
    const nets = Object.values(info.NetworkSettings.Networks);
    assert.equal(nets[0]?.MacAddress, res.hwaddr);
    assert.equal(nets[0]?.IPAddress, res.ipaddr);
    assert.ok(info.Config.Env.includes('JOB=7'), 'metadata as environment');

    const got = await execIn(docker, ids[0]!, ['sh', '-c', 'timeout 10 wget -qO- "$SHOAL_META_URL/meta/v1/data"']);
    assert.equal(got.code, 0, got.out);
    assert.deepEqual(JSON.parse(got.out), { SECRET: 'from-the-label', SHARED: 'app', JOB: '7' });

    await client.deallocate(app.uid);
    await waitForState(client, app.uid, ['DEALLOCATED'], 60_000);
    assert.deepEqual(await containersOf(docker, app.uid), []);
  });

  it('SIGKILL of the node as soon as the application is elected, then restart: one container for it, none after deallocate', async () => {
    const app = await client.createApplication({ label: 'box' });
    await waitForState(client, app.uid, ['ELECTED', 'ALLOCATED'], 60_000);
    await node.kill();
    node = await startNodeProcess({ dataDir: join(dir, 'node'), config, name: `e2e-${prefix}` });
    client = new ShoalClient({ url: node.apiUrl, token: node.token });
    await waitForState(client, app.uid, ['ALLOCATED'], 120_000);
    const res = await client.getResource(app.uid);
    const ids = await containersOf(docker, app.uid);
    assert.equal(ids.length, 1, 'no orphan next to the real one');
    const info = await docker.getContainer(ids[0]!).inspect();
    assert.equal(Object.values(info.NetworkSettings.Networks)[0]?.MacAddress, res.hwaddr);
    await client.deallocate(app.uid);
    await waitForState(client, app.uid, ['DEALLOCATED'], 60_000);
    assert.deepEqual(await containersOf(docker, app.uid), []);
  });
});

describe('qemu driver behind a real node', { timeout: 300_000 }, () => {
  let node: NodeProcess;
  let client: ShoalClient;

  before(async () => {
    const guest = buildTestGuest();
    node = await startNodeProcess({
      config: {
        capacity: { cpu: 4, ram: 4 },
        fetch: { allow_files: [dirname(guest.kernel.path)] },
        drivers: { qemu: { shutdown_timeout_seconds: 10, capacity: { cpu: 4, ram: 4 } } },
      },
    });
    client = new ShoalClient({ url: node.apiUrl, token: node.token });
    const def = JSON.parse(kernelDefinition(guest, { cpu: 1, ram: 1 })) as {
      options: Record<string, unknown>;
      requirements: { cpu: number; ram: number };
    };
    await client.createLabel({ name: 'vm', definitions: [{ driver: 'qemu', ...def }], metadata: { SECRET: 'vm-label' } });
  });
  after(async () => {
    await node?.cleanup();
  });

  it('a VM fetches its merged metadata from the node through its own channel; deallocate stops it', async () => {
    const app = await client.createApplication({ label: 'vm', metadata: { JOB: '9' } });
    await waitForState(client, app.uid, ['ALLOCATED'], 120_000);
    const res = await client.getResource(app.uid);
    assert.equal(qemuProcessesWithMac(res.hwaddr).length, 1, 'one qemu process with the resource MAC');
    let consoleText = '';
    const deadline = Date.now() + 120_000;
    while (!consoleText.includes('SHOAL-GUEST meta-end') && Date.now() < deadline) {
      consoleText = await client.getConsole(app.uid);
      if (!consoleText.includes('SHOAL-GUEST meta-end')) await new Promise((r) => setTimeout(r, 200));
    }
    const m = /SHOAL-GUEST meta-begin\s*\n([\s\S]*?)\n\s*SHOAL-GUEST meta-end/.exec(consoleText);
    assert.ok(m, `the guest printed its metadata:\n${consoleText.slice(-2000)}`);
    assert.deepEqual(JSON.parse(m[1]!.trim()), { SECRET: 'vm-label', JOB: '9' });

    await client.deallocate(app.uid);
    await waitForState(client, app.uid, ['DEALLOCATED'], 120_000);
    assert.deepEqual(qemuProcessesWithMac(res.hwaddr), []);
  });
});
