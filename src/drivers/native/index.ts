import type { DriverContext, DriverFactory, ResourceDriver } from '../../contract/index.js';
import { NativeOptionsSchema } from './definition.js';
import { NativeDriver } from './driver.js';

/** The native driver's factory: Linux sandboxes (bubblewrap + cgroups + a network namespace each). */
export const nativeDriverFactory: DriverFactory = {
  name: 'native',
  description: 'Linux sandboxes on the host: a fresh uid, cgroup limits, bubblewrap namespaces, seccomp, a network namespace each',
  autoDetect: true,
  optionsSchema: NativeOptionsSchema,
  create(ctx: DriverContext): ResourceDriver {
    return new NativeDriver(ctx);
  },
};

export { NativeDriver } from './driver.js';
