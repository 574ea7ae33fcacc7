import type { DriverFactory } from '../../contract/index.js';
import { TestOptionsSchema } from './config.js';
import { TEST_DRIVER_NAME, TestDriver } from './driver.js';

/** The `test` driver's factory: always available (no backend to detect). */
export const testDriverFactory: DriverFactory = {
  name: TEST_DRIVER_NAME,
  description:
    'Resources recorded as files under the data dir, with capacity limits, failure injection and delays (for tests and benchmarks)',
  autoDetect: true,
  optionsSchema: TestOptionsSchema,
  create: (ctx) => new TestDriver(ctx),
};
