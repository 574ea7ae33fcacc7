import type { ResourceDriver } from '../driver.js';

/** What a driver's test file hands the conformance suite. */
export interface ConformanceOptions {
  /** a prepared driver instance over a fresh data dir (called once per suite) */
  create(): Promise<ResourceDriver>;
  /**
   * a new instance over a fresh data dir whose prepare() has not been called: the suite calls
   * prepare() on it with bad configs (then close() if present)
   */
  unprepared(): Promise<ResourceDriver>;
  /**
   * node-side configs prepare() must refuse with DriverError INVALID_CONFIG naming `field` (besides
   * the suite's own: a config that is not an object, an unknown key)
   */
  invalidConfigs?: Array<{ config: string; field: string }>;
  /**
   * a second prepared instance over the data dir of create()'s instance, as after a node restart
   * (the suite closes the first instance before calling it): it must see (status ALLOCATED) and
   * deallocate what the first one allocated. Absent = a named skip.
   */
  reopen?(): Promise<ResourceDriver>;
  /**
   * What the resource itself got as its metadata, read the driver's own way (container environment,
   * the VM's Meta API channel, the test driver's file): a map of key → value, or only the keys when
   * that is all the driver keeps. `metadata` is what allocate was given (for drivers whose resources
   * read it from the node, the hook serves it as the node would). Absent = a named skip.
   */
  readMetadata?(hwaddr: string, metadata: Record<string, unknown>): Promise<Record<string, unknown> | string[]>;
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
  /** removes what a snapshot made outside the data dir (e.g. a committed image); called with each snapshot info */
  removeSnapshot?(info: string): Promise<void>;
  /**
   * a command that starts a TCP echo server on `port` inside the environment and returns at once
   * (for the access part's connectPort check; absent = a named skip)
   */
  echoServer?: (port: number) => string[];
  /** the driver refuses every access call by design (UNSUPPORTED with a reason): one check asserts that instead of the access checks */
  accessRefused?: boolean;
  /** metadata passed to allocate (default a small non-secret map of strings) */
  metadata?: Record<string, unknown>;
}
