import type { DriverContext, DriverFactory, ResourceDriver } from '../../contract/index.js';
import { QemuOptionsSchema } from './definition.js';
import { QemuDriver } from './driver.js';

/** The qemu driver's factory: real QEMU VMs (KVM when usable, else TCG). */
export const qemuDriverFactory: DriverFactory = {
  name: 'qemu',
  description: 'QEMU virtual machines (KVM when usable, else TCG), controlled over QMP; overlays on cached images',
  autoDetect: true,
  optionsSchema: QemuOptionsSchema,
  create(ctx: DriverContext): ResourceDriver {
    return new QemuDriver(ctx);
  },
};

export { QemuDriver, QEMU_CAPABILITIES, type GuestSshTarget } from './driver.js';
export { parseConfig, type QemuConfig } from './config.js';
export { parseQemuDefinition, type QemuDefinition } from './definition.js';
export type { SnapshotInfo } from './snapshot.js';
