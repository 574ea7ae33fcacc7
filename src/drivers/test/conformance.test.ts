import { access, readFile } from 'node:fs/promises';
import { after } from 'node:test';
import { describeConformance } from '../../contract/conformance/index.js';
import { TestDriver } from './driver.js';
import { contextFor, def, preparedDriver, TempDirs } from './test-helpers.js';

const dirs = new TempDirs();
let driver: TestDriver | undefined;
let dataDir = '';
after(() => dirs.cleanup());

describeConformance('test', {
  create: async () => {
    dataDir = await dirs.make();
    driver = await preparedDriver(dataDir);
    return driver;
  },
  unprepared: async () => new TestDriver(contextFor(await dirs.make())),
  invalidConfigs: [
    { config: JSON.stringify({ cpu: 0 }), field: 'cpu' },
    { config: JSON.stringify({ fail_status: 'often' }), field: 'fail_status' },
  ],
  reopen: async () => preparedDriver(dataDir),
  // no shell, ports or file system: the access part refuses every call, and the suite asserts that
  accessRefused: true,
  // the test driver's resource is its file: it records the metadata's keys (never the values)
  readMetadata: async (hwaddr) => {
    if (!driver) throw new Error('no driver');
    const rec = JSON.parse(await readFile(`${driver.resourcesDir}/${hwaddr.replaceAll(':', '-')}.json`, 'utf8')) as {
      metadata_keys: string[];
    };
    return rec.metadata_keys;
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
