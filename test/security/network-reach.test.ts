// What an environment reaches on the node host, behind a real node process: a docker container on a
// `nat` network reaches the outside (a network namespace this test creates, routed through the
// host) and its Meta API, but no service of the host itself — not on the bridge's gateway address,
// not on the host's own address. (The qemu driver's counterpart, with a real guest probing the
// host's loopback and address, is src/drivers/qemu/network.test.ts.) Traffic goes only to
// addresses of this host and to the namespace and container the test made.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type Docker from 'dockerode';
import { ShoalClient } from '../../src/client/index.js';
import { connectEngine } from '../../src/drivers/docker/engine.js';
import { buildTestImages, type TestImages } from '../../src/drivers/docker/test-helpers/fixtures.js';
import { execIn } from '../../src/drivers/docker/test-helpers/harness.js';
import { freePort } from '../helpers/free-port.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { waitForState } from '../helpers/wait.js';
import { hostAddress, hostService, type HostService } from '../../src/drivers/shared/testing/host-service.js';

/**
 * "The outside": a network namespace with an HTTP server, linked to the host by a veth pair and
 * reached through the host's routing (as the internet would be).
 */
function createOutside(id: string, dir: string): { ns: string; url: string; remove: () => void } {
  const ns = `shoal-out-${id}`;
  const hostIf = `sho${id}`.slice(0, 15);
  const octet = 1 + (Number.parseInt(id.slice(0, 2), 16) % 250);
  const ip = (cmd: string[]): void => {
    execFileSync('ip', cmd, { stdio: 'pipe' });
  };
  ip(['netns', 'add', ns]);
  ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  ip(['addr', 'add', `10.126.${octet}.1/30`, 'dev', hostIf]);
  ip(['link', 'set', hostIf, 'up']);
  ip(['-n', ns, 'addr', 'add', `10.126.${octet}.2/30`, 'dev', 'eth0']);
  ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
  ip(['-n', ns, 'link', 'set', 'lo', 'up']);
  const www = join(dir, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'index.html'), 'the outside\n');
  execFileSync('ip', ['netns', 'exec', ns, 'busybox', 'httpd', '-p', '8080', '-h', www], { stdio: 'pipe' });
  return {
    ns,
    url: `http://10.126.${octet}.2:8080/`,
    remove: () => {
      // the namespace's processes (the httpd) go first, then the namespace and with it the veth
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
      try {
        ip(['netns', 'delete', ns]);
      } catch {
        // gone already
      }
    },
  };
}

const wget = (url: string, seconds = 6): string[] => ['timeout', '-s', 'KILL', String(seconds), 'wget', '-q', '-O', '-', url];

describe('network reach of a docker nat container behind a real node', { timeout: 300_000 }, () => {
  const id = randomBytes(3).toString('hex');
  const prefix = `reach${id}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker: Docker = connectEngine('/var/run/docker.sock');
  let images: TestImages;
  let node: NodeProcess;
  let client: ShoalClient;
  let outside: ReturnType<typeof createOutside> | undefined;
  const services: HostService[] = [];

  before(async () => {
    mkdirSync(join(dir, 'fixtures'));
    images = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
    outside = createOutside(id, dir);
    const config = {
      capacity: { cpu: 16, ram: 16 },
      fetch: { allow_files: [join(dir, 'fixtures')] },
      drivers: { docker: { meta_port: await freePort(), stop_timeout: 1, cpu: 16, ram: 16 } },
    };
    node = await startNodeProcess({ dataDir: join(dir, 'node'), config, name: `reach-${prefix}` });
    client = new ShoalClient({ url: node.apiUrl, token: node.token });
    await client.createLabel({
      name: 'natbox',
      definitions: [
        {
          driver: 'docker',
          options: { image: `${prefix}-img:1`, images: [images.rootfs], command: ['sleep', '3600'] },
          requirements: { cpu: 1, ram: 1, network: 'nat' },
        },
      ],
      metadata: { SECRET: `nat-${id}` },
    });
  });

  after(async () => {
    await node?.kill();
    for (const s of services) await s.close();
    const left = await docker
      .listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.node=reach-${prefix}`] }) })
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
    outside?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reaches the outside and its Meta API, but no service on the gateway or the host's own address", async () => {
    const app = await client.createApplication({ label: 'natbox' });
    await waitForState(client, app.uid, ['ALLOCATED'], 120_000);
    const list = await docker.listContainers({ all: true, filters: JSON.stringify({ label: [`shoal.application=${app.uid}`] }) });
    assert.equal(list.length, 1);
    const container = list[0]!.Id;
    const info = await docker.getContainer(container).inspect();
    const gateway = Object.values(info.NetworkSettings.Networks)[0]?.Gateway;
    assert.ok(gateway, 'the container has a gateway');

    const onGateway = await hostService(gateway);
    const onHost = await hostService(hostAddress());
    services.push(onGateway, onHost);

    const meta = await execIn(docker, container, ['sh', '-c', `${wget('"$SHOAL_META_URL/meta/v1/data"').join(' ')}`]);
    assert.equal(meta.code, 0, meta.out);
    assert.deepEqual(JSON.parse(meta.out), { SECRET: `nat-${id}` });

    assert.ok(outside);
    const out = await execIn(docker, container, wget(outside.url));
    assert.equal(out.code, 0, `the nat container did not reach the outside: ${out.out}`);
    assert.equal(out.out.trim(), 'the outside');

    for (const s of [onGateway, onHost]) {
      const r = await execIn(docker, container, wget(`http://${s.target}/`, 4));
      assert.notEqual(r.code, 0, `the nat container reached the host service at ${s.target}: ${r.out}`);
      assert.equal(s.hits(), 0, `the host service at ${s.target} saw a connection`);
    }
    // the node's own API port, on the gateway address
    const api = await execIn(docker, container, wget(`http://${gateway}:${node.apiPort}/`, 4));
    assert.notEqual(api.code, 0, `the nat container reached the node's API port on the gateway: ${api.out}`);

    await client.deallocate(app.uid);
    await waitForState(client, app.uid, ['DEALLOCATED'], 60_000);
    assert.equal(node.proc.exitCode, null, 'the node process is still alive');
    assert.equal(node.proc.signalCode, null);
  });
});
