export { testDriverFactory } from './factory.js';
export { TestDriver, TEST_DRIVER_NAME, type TestDriverOptions } from './driver.js';
export {
  parseConfig,
  INJECTED_CALLS,
  INJECTION_KEYS,
  CAPACITY_DEFAULTS,
  DELAY_MAX_MS,
  FAIL_MAX,
  type InjectedCall,
  type InjectionKey,
  type TestDriverConfig,
} from './config.js';
export { parseTestDefinition, TEST_DISK_TYPES, TEST_NETWORKS, type TestDefinition } from './definition.js';
