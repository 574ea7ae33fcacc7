import type { Duplex } from 'node:stream';
import { DriverError, type ExecProcess, type ResourceAccess } from '../../contract/index.js';

const REFUSAL =
  'the test driver has no environment to enter: its resources are files, with no shell, ports or file system ' +
  '(use the docker or qemu driver for shells, exec, port-forwards and copies)';

const refuse = (): Promise<never> => Promise.reject(new DriverError('UNSUPPORTED', REFUSAL));

/** The test driver's access part: every call refuses with UNSUPPORTED saying why. */
export const testDriverAccess: ResourceAccess = {
  exec: (): Promise<ExecProcess> => refuse(),
  connectPort: (): Promise<Duplex> => refuse(),
  copyIn: (): Promise<void> => refuse(),
  copyOut: () => refuse(),
};
