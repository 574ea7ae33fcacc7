/**
 * Test fixture (crash.test.ts): a node process that prepares a native driver on a data dir,
 * allocates the definition twice and prints "ALLOCATED <hwaddr>" for each, then waits to be
 * killed. Arguments: <data dir> <definition json>.
 */
import { NativeDriver } from '../driver.js';
import { FakeMeta, testContext } from '../test-support.js';

const [dataDir, definition] = process.argv.slice(2);
if (!dataDir || !definition) {
  console.error('usage: allocate-child <data dir> <definition json>');
  process.exit(2);
}
const driver = new NativeDriver(testContext(dataDir, new FakeMeta()));
await driver.prepare('{}');
for (let i = 0; i < 2; i++) {
  const r = await driver.allocate(definition, {}, { application: `crash-${i}`, label: 'crash', node: 'test-node' });
  console.log(`ALLOCATED ${r.hwaddr}`);
}
setInterval(() => undefined, 60_000);
