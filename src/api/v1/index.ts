import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { CoreService } from '../../core/core-service.js';
import { authenticateRequest } from '../auth.js';
import { ApiError } from '../errors.js';
import type { LoginRateLimiter } from '../login-rate-limiter.js';
import { applicationRoutes } from './applications/routes.js';
import { eventRoutes } from './events/routes.js';
import { labelRoutes } from './labels/routes.js';
import { nodeRoutes } from './nodes/routes.js';
import { resourceRoutes } from './resources/routes.js';
import { tokenRoutes } from './users/token-routes.js';
import { userRoutes } from './users/routes.js';

export interface V1Options {
  core: CoreService;
  limiter: LoginRateLimiter;
  onAuthFailure: (reason: 'unauthorized' | 'rate_limited') => void;
  heartbeatMs: number;
  maxBufferedBytes: number;
  slowClientMs: number;
  maxStreamsPerUser: number;
}

/** Everything under /api/v1 that needs a caller: authentication runs first, for every route. */
export const v1Routes: FastifyPluginAsyncTypebox<V1Options> = async (app, opts) => {
  const { core, limiter, onAuthFailure } = opts;
  app.addHook('onRequest', async (req) => {
    if (req.routeOptions.config.auth === false) return;
    try {
      req.caller = await authenticateRequest(req, core, limiter);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'UNAUTHORIZED' && req.headers.authorization) onAuthFailure('unauthorized');
      if (err instanceof ApiError && err.code === 'TOO_MANY_REQUESTS') onAuthFailure('rate_limited');
      throw err;
    }
  });
  await app.register(userRoutes, { core });
  await app.register(tokenRoutes, { core });
  await app.register(labelRoutes, { core });
  await app.register(applicationRoutes, { core });
  await app.register(resourceRoutes, { core });
  await app.register(nodeRoutes, { core });
  await app.register(eventRoutes, {
    core,
    heartbeatMs: opts.heartbeatMs,
    maxBufferedBytes: opts.maxBufferedBytes,
    slowClientMs: opts.slowClientMs,
    maxStreamsPerUser: opts.maxStreamsPerUser,
  });
};
