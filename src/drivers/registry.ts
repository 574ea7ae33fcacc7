import { DriverRegistry } from '../contract/index.js';
import { dockerDriverFactory } from './docker/index.js';
import { nativeDriverFactory } from './native/index.js';
import { qemuDriverFactory } from './qemu/index.js';
import { testDriverFactory } from './test/index.js';

/**
 * The registry of built-in drivers (DriversList in Aquarium Fish): the one file that names concrete
 * drivers. The node creates instances from it by name.
 */
export const DriversList = new DriverRegistry([testDriverFactory, dockerDriverFactory, qemuDriverFactory, nativeDriverFactory]);
