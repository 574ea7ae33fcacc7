import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { CoreService } from '../core/core-service.js';
import { registerBodyParsers } from './body-parsers.js';
import { DEFAULT_BODY_DEPTH } from './body-nesting.js';
import { DEFAULT_CONNECTION_LIMITS, guardConnections, serverTimeouts, type ConnectionLimits } from './connection-guard.js';
import { clientErrorHandler, installErrorHandling, installShutdownGuard } from './error-handler.js';
import { frameworkErrorHandler, MAX_PARAM_LENGTH, requireHost } from './framework-errors.js';
import { installHttpMetrics } from './http-metrics.js';
import { installRenderGuard } from './render-guard.js';
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
  /** failed logins per address prefix and per user before they are slowed down (see login-rate-limiter.ts) */
  loginRateLimit?: Omit<LoginRateLimiterOptions, 'now'>;
  /**
   * Server-Sent Events: heartbeat period (default 15 s), bytes a client may leave unread (default
   * 1 MiB), how long a full stream waits for its client to read before it ends with `event: end`
   * (default 30 s), open streams per user (default 8; one more → 429)
   */
  events?: { heartbeatMs?: number; maxBufferedBytes?: number; slowClientMs?: number; maxStreamsPerUser?: number };
  /** deepest JSON/YAML body accepted (default 64 levels); deeper → 400 MALFORMED_BODY before parsing */
  bodyDepth?: number;
  /** caps and timeouts of the API listener's connections (default DEFAULT_CONNECTION_LIMITS) */
  connections?: ConnectionLimits;
  /**
   * GET /metrics needs `Authorization: Bearer <token>` with an admin token or this metrics token
   * (compared in constant time). `false` removes /metrics from the API (served on its own listener).
   */
  metricsAuth?: { token?: string } | false;
  /** shown in /health and the OpenAPI document */
  version?: string;
  /** each driver's options schema (driver name → JSON Schema): the OpenAPI document shows them for a label definition's `options` */
  definitionOptions?: Readonly<Record<string, object>>;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;
export const DEFAULT_STREAMS_PER_USER = 8;

/** Builds the HTTP API (not listening yet: call `listen`, or `inject` in tests). */
export async function buildApi(opts: ApiOptions): Promise<FastifyInstance> {
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const limits = opts.connections ?? DEFAULT_CONNECTION_LIMITS;
  const timeouts = serverTimeouts(limits);
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
    // our own server: Node's header/request/keep-alive timeouts checked every second, TLS handshake bounded
    serverFactory: (handler) => {
      const server = opts.https
        ? createHttpsServer({ ...opts.https, ...timeouts, handshakeTimeout: limits.tlsHandshakeMs, requireHostHeader: false }, handler)
        : // requireHost (framework-errors.ts) answers in the one error shape
          createHttpServer({ ...timeouts, requireHostHeader: false }, handler);
      server.setTimeout(limits.idleTimeoutMs);
      server.keepAliveTimeout = limits.keepAliveMs;
      return server;
    },
  } satisfies FastifyServerOptions;
  const base = Fastify(common) as unknown as FastifyInstance;
  guardConnections(base.server, limits);
  // a listener error after start (e.g. EMFILE on accept) is logged, never thrown
  base.server.on('error', (err) => log.error({ err: err.message }, 'API listener error'));
  const app = base.withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(typeboxValidatorCompiler);
  app.decorateRequest('caller', null);
  registerBodyParsers(app, opts.bodyDepth ?? DEFAULT_BODY_DEPTH);
  installErrorHandling(app, bodyLimit);
  installShutdownGuard(app);
  requireHost(app);
  installRenderGuard(app);
  const { authFailure } = installHttpMetrics(app, opts.metrics);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  await registerOpenApi(app, version, opts.definitionOptions);
  const limiter = new LoginRateLimiter(opts.loginRateLimit);
  await app.register(systemRoutes, { core: opts.core, metrics: opts.metrics, limiter, version, metricsAuth: opts.metricsAuth ?? {} });
  await app.register(v1Routes, {
    prefix: '/api/v1',
    core: opts.core,
    limiter,
    onAuthFailure: authFailure,
    heartbeatMs: opts.events?.heartbeatMs ?? 15_000,
    maxBufferedBytes: opts.events?.maxBufferedBytes ?? 1024 * 1024,
    slowClientMs: opts.events?.slowClientMs ?? 30_000,
    maxStreamsPerUser: opts.events?.maxStreamsPerUser ?? DEFAULT_STREAMS_PER_USER,
  });
  return app;
}
