/** The driver contract's conformance suite against real QEMU VMs (two boots). */
import { describeConformance } from '../../contract/conformance/index.js';
import { QemuDriver } from './driver.js';
import { FakeMeta, buildTestGuest, kernelDefinition, qemuByMac, removeDir, tempDataDir, testContext } from './test-support.js';
import { after } from 'node:test';

const guest = buildTestGuest();
const valid = kernelDefinition(guest, { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 1 } } });
const withOptions = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string => {
  const d = JSON.parse(valid) as { options: Record<string, unknown>; requirements: Record<string, unknown> };
  return JSON.stringify({ options: { ...d.options, ...options }, requirements: { ...d.requirements, ...requirements } });
};
const dirs: string[] = [];

after(async () => {
  for (const d of dirs) await removeDir(d);
});

describeConformance('qemu', {
  async create() {
    const dir = await tempDataDir('conf');
    dirs.push(dir);
    const driver = new QemuDriver(testContext(dir, new FakeMeta()));
    await driver.prepare(JSON.stringify({ shutdown_timeout_seconds: 30 }));
    return driver;
  },
  definition: valid,
  invalid: [
    { definition: withOptions({ kernal: { url: guest.kernel.url, sum: guest.kernel.sum } }), field: 'options.kernal' },
    { definition: withOptions({ firmware: 'coreboot' }), field: 'options.firmware' },
    { definition: withOptions({ kernel: { url: guest.kernel.url, sum: 'sha256:00' } }), field: 'options.kernel.sum' },
    { definition: withOptions({}, { disks: { ws: { type: 'xfs', size: 1 } } }), field: 'requirements.disks.ws.type' },
    { definition: withOptions({}, { network: 'bridge' }), field: 'requirements.network' },
  ],
  async existsOutside(hwaddr) {
    return (await qemuByMac(hwaddr)) !== undefined;
  },
  timeoutMs: 240_000,
});
