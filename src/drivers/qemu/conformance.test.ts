/** The driver contract's conformance suite against real QEMU VMs (two boots). */
import { describeConformance } from '../../contract/conformance/index.js';
import { QemuDriver } from './driver.js';
import { FakeMeta, buildTestGuest, kernelDefinition, qemuByMac, removeDir, tempDataDir, testContext, waitForText } from './test-support.js';
import { after } from 'node:test';

const guest = buildTestGuest();
const valid = kernelDefinition(guest, { cpu: 1, ram: 1, disks: { ws: { type: 'ext4', size: 1 } } });
const withOptions = (options: Record<string, unknown>, requirements: Record<string, unknown> = {}): string => {
  const d = JSON.parse(valid) as { options: Record<string, unknown>; requirements: Record<string, unknown> };
  return JSON.stringify({ options: { ...d.options, ...options }, requirements: { ...d.requirements, ...requirements } });
};
const dirs: string[] = [];
const meta = new FakeMeta();
let first: QemuDriver | undefined;
let dataDir = '';
const CONFIG = JSON.stringify({ shutdown_timeout_seconds: 30 });

after(async () => {
  for (const d of dirs) await removeDir(d);
});

describeConformance('qemu', {
  async create() {
    dataDir = await tempDataDir('conf');
    dirs.push(dataDir);
    first = new QemuDriver(testContext(dataDir, meta));
    await first.prepare(CONFIG);
    return first;
  },
  async unprepared() {
    const dir = await tempDataDir('conf-bad');
    dirs.push(dir);
    return new QemuDriver(testContext(dir, new FakeMeta()));
  },
  invalidConfigs: [
    { config: JSON.stringify({ accel: 'hvf' }), field: 'accel' },
    { config: JSON.stringify({ capacity: { cpu: 1, gpu: 1 } }), field: 'capacity.gpu' },
    { config: JSON.stringify({ firmware: { ovmf: 'OVMF.fd' } }), field: 'firmware.ovmf' },
  ],
  async reopen() {
    const driver = new QemuDriver(testContext(dataDir, meta));
    await driver.prepare(CONFIG);
    return driver;
  },
  // as the node does, the fake Meta API serves the metadata on the VM's own channel; the test guest
  // prints what it read on its console
  async readMetadata(hwaddr, metadata) {
    if (!first) throw new Error('no driver');
    const driver = first;
    meta.data.set(hwaddr, metadata);
    await waitForText(() => driver.console(hwaddr), /SHOAL-GUEST meta-end/, 180_000, `VM ${hwaddr} printed its metadata`);
    const m = /SHOAL-GUEST meta-begin\r?\n(.*?)\r?\nSHOAL-GUEST meta-end/s.exec(await driver.console(hwaddr));
    if (!m) throw new Error('no metadata block on the console');
    return JSON.parse(m[1]!) as Record<string, unknown>;
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
