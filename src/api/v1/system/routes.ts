import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import type { CoreService } from '../../../core/core-service.js';
import { authenticateRequest } from '../../auth.js';
import { isLoopback, sourceAddress } from '../../source-address.js';
import { errorResponse, mediaResponse } from '../common-schemas.js';
import { ApiError } from '../../errors.js';
import type { LoginRateLimiter } from '../../login-rate-limiter.js';
import { Health, MetricsText } from './schemas.js';

export interface SystemRouteOptions {
  core: CoreService;
  metrics: Registry;
  limiter: LoginRateLimiter;
  version: string;
}

/**
 * Unauthenticated health at /health (and /api/v1/health), and Prometheus metrics at /metrics:
 * open to loopback callers (a local Prometheus or node exporter), admin credentials otherwise.
 */
export const systemRoutes: FastifyPluginAsyncTypebox<SystemRouteOptions> = async (app, { core, metrics, limiter, version }) => {
  const started = Date.now();
  for (const url of ['/health', '/api/v1/health']) {
    app.get(
      url,
      {
        config: { auth: false },
        schema: {
          tags: ['system'],
          summary: 'Liveness: the API answers (no auth)',
          security: [],
          hide: url !== '/health',
          response: { 200: Health, 503: errorResponse(503) },
        },
      },
      async () => ({ status: 'ok' as const, version, uptime_s: Math.round((Date.now() - started) / 1000) }),
    );
  }

  app.get(
    '/metrics',
    {
      config: { auth: false },
      schema: {
        tags: ['system'],
        summary: 'Prometheus metrics (no auth from loopback; admin credentials from elsewhere)',
        response: { 200: mediaResponse('text/plain', MetricsText), 401: errorResponse(401), 403: errorResponse(403), 429: errorResponse(429) },
      },
    },
    async (req, reply) => {
      if (!isLoopback(sourceAddress(req.raw))) {
        const caller = await authenticateRequest(req, core, limiter);
        if (caller.role !== 'admin') throw new ApiError('FORBIDDEN', 'metrics need the admin role (or a loopback caller)');
      }
      const text = await metrics.metrics();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
