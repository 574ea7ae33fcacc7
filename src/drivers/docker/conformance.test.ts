import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { describeConformance } from '../../contract/conformance/index.js';
import { DockerDriver } from './driver.js';
import { LABELS } from './names.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

// Built before the suite is declared: the definition needs this run's image archive.
const suite: Suite = await createSuite('cnf');
const spareDirs: string[] = [];
after(async () => {
  await suite.destroy();
  for (const d of spareDirs) rmSync(d, { recursive: true, force: true });
});

const SUM = `sha256:${'ab'.repeat(32)}`;
const bad = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string =>
  JSON.stringify({
    options: { image: 'busybox:1', images: [{ url: 'file:///x.tar', sum: SUM }], ...options },
    requirements: { cpu: 1, ram: 1, ...requirements },
  });

describeConformance('docker', {
  create: async () => suite.driver,
  unprepared: async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shoal-docker-cnf-unprepared-'));
    spareDirs.push(dataDir);
    return new DockerDriver({
      instance: suite.h.instance,
      nodeName: suite.h.nodeName,
      dataDir,
      log: suite.h.log,
      meta: suite.h.meta,
      fetch: { allowFiles: [], allowHosts: [], maxImageBytes: 1 },
    });
  },
  invalidConfigs: [
    { config: JSON.stringify({ socket: 'docker.sock' }), field: 'socket' },
    { config: JSON.stringify({ networks: { hostonly: 'a', bridge: 'b' } }), field: 'networks.bridge' },
    { config: JSON.stringify({ meta_port: 70000 }), field: 'meta_port' },
  ],
  reopen: () => suite.h.newDriver(),
  // the container's environment: metadata keys become variables
  readMetadata: async (hwaddr) => {
    const filters = JSON.stringify({ label: [`${LABELS.resource}=${hwaddr}`] });
    const [c] = await suite.h.docker.listContainers({ all: true, filters });
    if (!c) throw new Error(`no container for ${hwaddr}`);
    const env = (await suite.h.docker.getContainer(c.Id).inspect()).Config.Env ?? [];
    return Object.fromEntries(env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  },
  removeSnapshot: async (info) => {
    const { image } = JSON.parse(info) as { image: string };
    if (image) await suite.h.docker.getImage(image).remove({ force: true });
  },
  definition: suite.basic({ disks: { ws: { type: 'ext4', size: 1 } } }),
  invalid: [
    { definition: bad({ privileged: true }), field: 'options.privileged' },
    { definition: bad({ images: [{ url: 'file:///x.tar', sum: 'sha256:1' }] }), field: 'options.images[0].sum' },
    { definition: bad({}, { network: 'bridge' }), field: 'requirements.network' },
    { definition: bad({}, { disks: { ws: { type: 'btrfs', size: 1 } } }), field: 'requirements.disks.ws.type' },
  ],
  // from outside the driver: a container carrying the hwaddr label, or its workspace folder
  existsOutside: async (hwaddr: string) => {
    const filters = JSON.stringify({ label: [`${LABELS.resource}=${hwaddr}`] });
    const containers = await suite.h.docker.listContainers({ all: true, filters });
    return containers.length > 0 || existsSync(join(suite.h.dataDir, 'workspaces/res', hwaddr.replace(/:/g, '')));
  },
  // busybox's nc as a persistent echo server, left running in the background
  echoServer: (port) => ['sh', '-c', `nc -ll -p ${port} -e cat </dev/null >/dev/null 2>&1 &`],
  timeoutMs: 180_000,
});
