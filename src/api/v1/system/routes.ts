import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Registry } from 'prom-client';
import type { CoreService } from '../../../core/core-service.js';
import { authenticateRequest, parseAuthorization } from '../../auth.js';
import { errorResponse, mediaResponse } from '../common-schemas.js';
import { ApiError } from '../../errors.js';
import type { LoginRateLimiter } from '../../login-rate-limiter.js';
import { Health, MetricsText } from './schemas.js';

export interface SystemRouteOptions {
  core: CoreService;
  metrics: Registry;
  limiter: LoginRateLimiter;
  version: string;
  /** /metrics: an admin token or this metrics token (Bearer); false = not served by the API */
  metricsAuth: { token?: string } | false;
}

function sameSecret(a: string, b: string): boolean {
  // hashes have equal length: compared in constant time whatever the lengths of a and b
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * Unauthenticated health at /health (and /api/v1/health), and Prometheus metrics at /metrics for
 * an admin token or the node's metrics token (`metrics.token`, Bearer) — from any address, loopback
 * included (resources of the test driver live on loopback). `metrics.listen` serves them without
 * credentials on a listener of their own instead (main/metrics-server.ts).
 */
export const systemRoutes: FastifyPluginAsyncTypebox<SystemRouteOptions> = async (
  app,
  { core, metrics, limiter, version, metricsAuth },
) => {
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
      async () => ({ status: 'ok' as const, version, uptime_s: Math.round((Date.now() - started) / 1000), ...core.workState() }),
    );
  }

  if (metricsAuth === false) return;
  const metricsToken = metricsAuth.token;
  app.get(
    '/metrics',
    {
      config: { auth: false },
      schema: {
        tags: ['system'],
        summary: "Prometheus metrics (Bearer: an admin token or the node's metrics token)",
        response: {
          200: mediaResponse('text/plain', MetricsText),
          401: errorResponse(401),
          403: errorResponse(403),
          429: errorResponse(429),
        },
      },
    },
    async (req, reply) => {
      const header = req.headers.authorization;
      const bearer = header ? parseAuthorization(header) : null;
      const isMetricsToken =
        metricsToken !== undefined && bearer !== null && bearer.name === undefined && sameSecret(bearer.token, metricsToken);
      if (!isMetricsToken) {
        const caller = await authenticateRequest(req, core, limiter);
        if (caller.role !== 'admin')
          throw new ApiError('FORBIDDEN', "metrics need an admin token or the node's metrics token (metrics.token)");
      }
      const text = await metrics.metrics();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
