/**
 * Test fixture (crash.test.ts): a node process that prepares a qemu driver on a data dir and
 * allocates one VM, printing "ALLOCATED <hwaddr>" when allocate returns. The test SIGKILLs it in
 * the middle. Arguments: <data dir> <config json> <definition json>.
 */
import { QemuDriver } from '../driver.js';
import { FakeMeta, silentLog, testContext } from '../test-support.js';

const [dataDir, config, definition] = process.argv.slice(2);
if (!dataDir || !config || !definition) {
  console.error('usage: allocate-child <data dir> <config json> <definition json>');
  process.exit(2);
}
const driver = new QemuDriver(testContext(dataDir, new FakeMeta(), silentLog));
await driver.prepare(config);
console.log('PREPARED');
const r = await driver.allocate(definition, {}, { application: 'crash', label: 'crash', node: 'test-node' });
console.log(`ALLOCATED ${r.hwaddr}`);
