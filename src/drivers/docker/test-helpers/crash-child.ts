// A child process for crash tests: prepares a docker driver and allocates, printing "allocating"
// first and "allocated <hwaddr>" when done; the parent SIGKILLs it somewhere in between.
// Input: env SHOAL_CRASH_CHILD = JSON {dataDir, instance, nodeName, configJson, definition}.
import { DockerDriver } from '../driver.js';
import { memoryLog } from './harness.js';
import { TEST_FETCH } from './fixtures.js';
import { TestMeta } from './test-meta.js';

interface Input {
  dataDir: string;
  instance: string;
  nodeName: string;
  configJson: string;
  definition: string;
}

const input = JSON.parse(process.env.SHOAL_CRASH_CHILD ?? '{}') as Input;
const driver = new DockerDriver({
  instance: input.instance,
  nodeName: input.nodeName,
  dataDir: input.dataDir,
  log: memoryLog(),
  meta: new TestMeta(),
  fetch: TEST_FETCH,
});
await driver.prepare(input.configJson);
process.stdout.write('allocating\n');
const r = await driver.allocate(input.definition, { CHILD: 'yes' }, { application: 'crash', label: 'crash', node: input.nodeName });
process.stdout.write(`allocated ${r.hwaddr}\n`);
// stay alive until killed (bounded: the parent kills long before)
setTimeout(() => process.exit(0), 120_000);
