import type { CoreService } from '../../core/core-service.js';

/** What every v1 route plugin is given. */
export interface RouteDeps {
  core: CoreService;
}
