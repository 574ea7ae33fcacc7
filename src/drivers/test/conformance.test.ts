import { access } from 'node:fs/promises';
import { after } from 'node:test';
import { describeConformance } from '../../contract/conformance/index.js';
import type { TestDriver } from './driver.js';
import { def, preparedDriver, TempDirs } from './test-helpers.js';

const dirs = new TempDirs();
let driver: TestDriver | undefined;
after(() => dirs.cleanup());

describeConformance('test', {
  create: async () => {
    driver = await preparedDriver(await dirs.make());
    return driver;
  },
  definition: def({ cpu: 2, ram: 1, disks: { ws: { type: 'ext4', size: 1 } }, network: 'nat' }, { delay_allocate: 5 }),
  invalid: [
    { definition: def({ cpu: 1, ram: 1 }, { fail_allocate: 256 }), field: 'options.fail_allocate' },
    { definition: def({ cpu: 1, ram: 1 }, { delay_status: -1 }), field: 'options.delay_status' },
    { definition: def({ cpu: 1, ram: 1 }, { image: 'x' }), field: 'options.image' },
    { definition: def({ cpu: 1, ram: 1, disks: { ws: { type: 'btrfs', size: 1 } } }), field: 'requirements.disks.ws.type' },
    { definition: def({ cpu: 1, ram: 1, network: 'bridge0' }), field: 'requirements.network' },
  ],
  // From outside the driver: the resource is its file on disk.
  existsOutside: async (hwaddr) => {
    if (!driver) throw new Error('no driver');
    return access(`${driver.resourcesDir}/${hwaddr.replaceAll(':', '-')}.json`).then(
      () => true,
      () => false,
    );
  },
  timeoutMs: 30_000,
});
