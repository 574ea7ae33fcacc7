// Registry pulls behind a real node process: a label whose first definition names an image the
// registry does not have and whose second one names an image it has. The first ends with the
// registry's reason, the second is pulled — how far, on the application's state and the event
// stream — and runs.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ShoalClient } from '../src/client/index.js';
import { connectEngine, readProgress } from '../src/drivers/docker/engine.js';
import { bridgeName, Firewall } from '../src/drivers/docker/firewall.js';
import { buildTestImages } from '../src/drivers/docker/test-helpers/fixtures.js';
import { pushImage, startRegistry, type TestRegistry } from '../src/drivers/docker/test-helpers/registry.js';
import type { StateEvent } from '../src/model/index.js';
import { freePort } from './helpers/free-port.js';
import { SHOAL_BIN, startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { waitForState } from './helpers/wait.js';

const run = promisify(execFile);

describe('registry pulls behind a real node', { timeout: 300_000 }, () => {
  const prefix = `rege2e${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `shoal-${prefix}-`));
  const docker = connectEngine('/var/run/docker.sock');
  let registry: TestRegistry;
  let node: NodeProcess;
  let client: ShoalClient;
  let image = '';
  const apps: string[] = [];

  before(
    async () => {
      registry = await startRegistry();
      mkdirSync(join(dir, 'fixtures'));
      const imgs = await buildTestImages(docker, join(dir, 'fixtures'), prefix);
      for (const id of imgs.createdImages)
        await docker
          .getImage(id)
          .remove({ force: true })
          .catch(() => undefined);
      const src = `${prefix}-src:v1`;
      await readProgress(
        docker,
        await docker.importImage(fileURLToPath(imgs.rootfs.url), { repo: `${prefix}-src`, tag: 'v1', changes: 'CMD ["sleep","3600"]' }),
      );
      await pushImage(docker, src, { registry, name: `e2e/${prefix}`, tag: 'v1' });
      await docker.getImage(src).remove({ force: true });
      image = `${registry.host}/e2e/${prefix}:v1`;
      node = await startNodeProcess({
        dataDir: join(dir, 'node'),
        name: `e2e-${prefix}`,
        config: {
          capacity: { cpu: 8, ram: 8 },
          shutdown_wait: '5s',
          drivers: {
            docker: {
              meta_port: await freePort(),
              stop_timeout: 1,
              allow_registries: [registry.host],
              networks: { hostonly: `${prefix}-ho`, nat: `${prefix}-nat` },
            },
          },
        },
      });
      client = new ShoalClient({ url: node.apiUrl, token: node.token });
    },
    { timeout: 120_000 },
  );

  after(
    async () => {
      for (const uid of apps) await client?.deallocate(uid).catch(() => undefined);
      for (const uid of apps) await waitForState(client, uid, ['DEALLOCATED', 'ERROR'], 60_000).catch(() => undefined);
      await node?.stop();
      await node?.cleanup();
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
      await registry?.stop();
      rmSync(dir, { recursive: true, force: true });
    },
    { timeout: 120_000 },
  );

  it('a missing image ends its definition with the registry reason; the next is pulled, with progress on the state and the stream', async () => {
    const label = `${prefix}-label`;
    await client.createLabel({
      name: label,
      definitions: [
        { driver: 'docker', options: { image: `${registry.host}/e2e/nosuch-${prefix}:v1` }, requirements: { cpu: 1, ram: 1 } },
        { driver: 'docker', options: { image, command: ['sleep', '3600'] }, requirements: { cpu: 1, ram: 1 } },
      ],
    });
    const abort = new AbortController();
    const seen: StateEvent[] = [];
    const stream = client.events({ signal: abort.signal });
    const reading = (async () => {
      for await (const e of stream) seen.push(e);
    })();
    try {
      await stream.connected();
      await allocateAndCheck(label, seen);
    } finally {
      abort.abort();
      await reading;
    }
  });

  it('admins list and remove cached images (API and CLI); one in use is refused with 409', async () => {
    const name = `e2e-${prefix}`;
    const items = await client.listStored(name, 'images');
    const pulled = items.find((i) => i.driver === 'docker' && i.name.includes(image));
    assert.ok(pulled, `the pulled image is listed: ${JSON.stringify(items)}`);
    assert.equal(pulled.in_use, true);
    assert.ok(pulled.bytes > 0 && pulled.last_used !== '');
    await assert.rejects(client.removeStored(name, 'images', pulled.id), (err: unknown) => {
      assert.equal((err as { status?: number }).status, 409, String(err));
      assert.match(String((err as Error).message), /used by a container/);
      return true;
    });
    await assert.rejects(client.listStored('no-such-node', 'images'), (err: unknown) => (err as { status?: number }).status === 404);
    const cli = (...args: string[]) =>
      run(process.execPath, [SHOAL_BIN, '--url', node.apiUrl, '--token', node.token, ...args], { timeout: 30_000 });
    const table = await cli('node', 'images');
    assert.match(table.stdout, new RegExp(`docker .*${pulled.id.slice(0, 19)}.* image .* yes `));
    const disks = JSON.parse((await cli('--json', 'node', 'disks')).stdout) as { items: unknown[] };
    assert.deepEqual(disks.items, []);
    for (const uid of apps.splice(0)) {
      await client.deallocate(uid);
      await waitForState(client, uid, ['DEALLOCATED'], 60_000);
    }
    await cli('node', 'images', 'rm', pulled.id);
    assert.equal((await client.listStored(name, 'images')).length, items.length - 1);
    await assert.rejects(docker.getImage(pulled.id).inspect(), 'the image is gone from the daemon');
  });

  it('a clean shutdown removes the network and its rules (no container left)', async () => {
    for (const uid of apps.splice(0)) {
      await client.deallocate(uid);
      await waitForState(client, uid, ['DEALLOCATED'], 60_000);
    }
    assert.equal(await node.stop(), 0);
    const nets = (await docker.listNetworks()).map((n) => n.Name);
    assert.ok(!nets.includes(`${prefix}-ho`), `the host-only network outlived the node: ${nets.join(', ')}`);
    assert.deepEqual(await Firewall.listRules({ network: `${prefix}-ho`, bridge: bridgeName(`${prefix}-ho`) }), []);
  });

  async function allocateAndCheck(label: string, seen: StateEvent[]): Promise<void> {
    const app = await client.createApplication({ label });
    apps.push(app.uid);
    await waitForState(client, app.uid, ['ALLOCATED', 'ERROR'], 120_000);
    const states = await client.listStates(app.uid);
    const last = states[states.length - 1]!;
    assert.equal(last.status, 'ALLOCATED', JSON.stringify(states));
    assert.match(last.description, /definition 1/);
    assert.ok(
      states.some(
        (s) =>
          s.status === 'NEW' &&
          /definition 0 \(docker\) failed: (IMAGE: )?cannot pull .*nosuch.* the registry has no such image/.test(s.description),
      ),
      `the first definition's failure, in plain words: ${JSON.stringify(states.map((s) => s.description))}`,
    );
    const pulling = (d: string): boolean => d.includes(`pulling ${image}: `) && /\d+\/\d+ layers/.test(d);
    assert.ok(
      states.some((s) => s.status === 'ELECTED' && pulling(s.description)),
      `the pull's progress in the state history: ${JSON.stringify(states.map((s) => s.description))}`,
    );
    // the stream carried the same notes
    for (let i = 0; i < 100 && !seen.some((e) => e.application_uid === app.uid && e.status === 'ALLOCATED'); i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(
      seen.some((e) => e.application_uid === app.uid && e.status === 'ELECTED' && pulling(e.description)),
      `no progress note on the event stream: ${JSON.stringify(seen.filter((e) => e.application_uid === app.uid).map((e) => e.description))}`,
    );
    const res = await client.getResource(app.uid);
    const [c] = await docker.listContainers({ filters: JSON.stringify({ label: [`shoal.resource=${res.hwaddr}`] }) });
    assert.ok(c, 'the container runs');
    assert.ok((await docker.getImage(c.ImageID).inspect()).RepoTags.includes(image), 'it runs the pulled image');
  }
});
