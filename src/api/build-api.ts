import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CoreService } from '../core/core-service.js';
import { registerBodyParsers } from './body-parsers.js';
import { clientErrorHandler, installErrorHandling, installShutdownGuard } from './error-handler.js';
import { frameworkErrorHandler, MAX_PARAM_LENGTH } from './framework-errors.js';
import { installHttpMetrics } from './http-metrics.js';
import { LOG_REDACT_PATHS, requestSerializer } from './log-redaction.js';
import { LoginRateLimiter, type LoginRateLimiterOptions } from './login-rate-limiter.js';
import { registerOpenApi } from './openapi.js';
import { systemRoutes } from './v1/system/routes.js';
import { v1Routes } from './v1/index.js';
import { typeboxValidatorCompiler } from './validator-compiler.js';

export interface ApiOptions {
  core: CoreService;
  /** pino logger; the API logs through a child that redacts tokens, Authorization and metadata */
  log: Logger;
  /** prom-client registry: served at /metrics; the API adds its HTTP latency histogram to it */
  metrics: Registry;
  /** largest request body in bytes (default 1 MiB); larger → 413 PAYLOAD_TOO_LARGE */
  bodyLimit?: number;
  /** PEM key and certificate: serve HTTPS (see ensureTls) */
  https?: { key: string | Buffer; cert: string | Buffer };
  /** failed logins per source address before 429 (default 10 per 60 s) */
  loginRateLimit?: Omit<LoginRateLimiterOptions, 'now'>;
  /** Server-Sent Events: heartbeat period (default 15 s), bytes a slow client may leave unread before it is dropped (default 1 MiB) */
  events?: { heartbeatMs?: number; maxBufferedBytes?: number };
  /** shown in /health and the OpenAPI document */
  version?: string;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Builds the HTTP API (not listening yet: call `listen`, or `inject` in tests). */
export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const version = opts.version ?? '0.1.0';
  const log = opts.log.child(
    { component: 'api' },
    { redact: { paths: [...LOG_REDACT_PATHS], censor: '[redacted]' }, serializers: { req: requestSerializer } },
  );
  const common = {
    loggerInstance: log,
    bodyLimit,
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'req_id' }),
    trustProxy: false,
    return503OnClosing: false, // installShutdownGuard answers 503 in the one error shape
    clientErrorHandler,
    frameworkErrors: frameworkErrorHandler, // bad percent-encoding, over-long path parameters: the one error shape
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: MAX_PARAM_LENGTH },
  } satisfies FastifyServerOptions;
  const base = (opts.https ? Fastify({ ...common, https: opts.https }) : Fastify(common)) as unknown as FastifyInstance;
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.decorateRequest('caller', null);
  registerBodyParsers(app);
  installErrorHandling(app, bodyLimit);
  installShutdownGuard(app);
  const { authFailure } = installHttpMetrics(app, opts.metrics);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });

  await registerOpenApi(app, version);
  const limiter = new LoginRateLimiter(opts.loginRateLimit);
  await app.register(systemRoutes, { core: opts.core, metrics: opts.metrics, limiter, version });
  await app.register(v1Routes, {
    prefix: '/api/v1',
    core: opts.core,
    limiter,
    onAuthFailure: authFailure,
    heartbeatMs: opts.events?.heartbeatMs ?? 15_000,
    maxBufferedBytes: opts.events?.maxBufferedBytes ?? 1024 * 1024,
  });
  return app;
}
