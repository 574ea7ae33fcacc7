import type { ResourceDriver } from '../driver.js';

/** What a driver's test file hands the conformance suite. */
export interface ConformanceOptions {
  /** a prepared driver instance over a fresh data dir (called once per suite) */
  create(): Promise<ResourceDriver>;
  /** a valid definition JSON (`{"options":{…},"requirements":{…}}`) for this driver; allocated twice */
  definition: string;
  /**
   * definitions validateDefinition must reject with DriverError INVALID_DEFINITION; `field` is a
   * name both the error's message and its `field` must contain (e.g. "options.image")
   */
  invalid: Array<{ definition: string; field: string }>;
  /** the test's own check, from outside the driver (docker inspect, /proc, files), that the resource exists */
  existsOutside(hwaddr: string): Promise<boolean>;
  /** per-test timeout in ms (default 120000: VMs under TCG on a loaded machine are slow) */
  timeoutMs?: number;
  /** metadata passed to allocate (default a small non-secret map) */
  metadata?: Record<string, unknown>;
}
