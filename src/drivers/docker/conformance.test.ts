import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { describeConformance } from '../../contract/conformance/index.js';
import { LABELS } from './names.js';
import { createSuite, type Suite } from './test-helpers/suite.js';

// Built before the suite is declared: the definition needs this run's image archive.
const suite: Suite = await createSuite('cnf');
after(async () => {
  await suite.destroy();
});

const SUM = `sha256:${'ab'.repeat(32)}`;
const bad = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string =>
  JSON.stringify({ options: { image: 'busybox:1', images: [{ url: 'file:///x.tar', sum: SUM }], ...options }, requirements: { cpu: 1, ram: 1, ...requirements } });

describeConformance('docker', {
  create: async () => suite.driver,
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
  timeoutMs: 180_000,
});
