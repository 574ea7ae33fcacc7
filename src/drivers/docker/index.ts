import type { DriverContext, DriverFactory, ResourceDriver } from '../../contract/index.js';
import { DockerOptionsSchema } from './definition.js';
import { DockerDriver } from './driver.js';

export { DockerDriver } from './driver.js';
export { parseDockerConfig, type DockerConfig } from './config.js';
export { parseDockerDefinition, DISK_TYPES, type DockerDefinition } from './definition.js';

/** The docker driver: containers from the Docker Engine over its unix socket. */
export const dockerDriverFactory: DriverFactory = {
  name: 'docker',
  description: 'Containers from the Docker Engine API: cpu/ram limits, MAC identity, host-only or nat networks, ext4/xfs/dir disks',
  autoDetect: true,
  optionsSchema: DockerOptionsSchema,
  create(ctx: DriverContext): ResourceDriver {
    return new DockerDriver(ctx);
  },
};
