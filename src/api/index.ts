/**
 * The HTTP layer of a Shoal node. What main/ calls:
 *
 *   buildApi(opts: ApiOptions): Promise<FastifyInstance>
 *     opts = { core: CoreService, log: pino Logger, metrics: prom-client Registry,
 *              bodyLimit?: number (default 1 MiB), https?: { key, cert },
 *              loginRateLimit?: { maxFailuresPerPrefix?, maxFailuresPerUser?, windowMs?, maxKeys?, maxQueued? },
 *              bodyDepth?, connections?: ConnectionLimits, metricsAuth?: { token? } | false,
 *              events?: { heartbeatMs?, maxBufferedBytes?, slowClientMs? }, version?: string }
 *     Not listening yet: `await api.listen({ host, port })`; `await api.close()` ends SSE streams too.
 *     Routes: /api/v1/* (PRODUCT.md §5, auth: Basic USER:TOKEN or Bearer TOKEN),
 *             /health and /api/v1/health (no auth), /metrics (Bearer: admin or the metrics token),
 *             /api/openapi.json and /api/docs (no auth).
 *
 *   createMetaHandler(core: Pick<CoreService,'metadataFor'>, identify: (req) => MetaIdentity | null,
 *                     options?: { onError? }): (req: IncomingMessage, res: ServerResponse) => void
 *     GET /meta/v1/data?format=json|env|yaml&prefix=P for per-resource channels
 *     (e.g. `() => ({ kind: 'hwaddr', hwaddr })`). Anything else, or no ALLOCATED resource → 404.
 *
 *   createMetaServer(core: Pick<CoreService,'metadataFor'>, { host, port }, options?)
 *     : Promise<{ address: 'host:port', port, close(): Promise<void> }>
 *     plain-HTTP Meta API listener identifying callers by source address ({kind:'address'}).
 *
 *   ensureTls(dataDir: string, hosts: string[], own?: { cert: path, key: path, ca?: path })
 *     : Promise<{ key, cert, ca, caPath, certPath, keyPath, generated }>
 *     DATA_DIR/tls/{ca.crt, ca.key (0600), node.crt, node.key (0600)}: created once, reused,
 *     node certificate re-issued when a host is missing or it nears expiry.
 *
 *   LOG_REDACT_PATHS: pino redaction paths for the root logger (tokens, Authorization, metadata).
 */
export { buildApi, DEFAULT_BODY_LIMIT, type ApiOptions } from './build-api.js';
export { ApiError, API_ERROR_CODES, ALL_ERROR_CODES, HTTP_STATUS, type ApiErrorCode, type ErrorCode } from './errors.js';
export { LOG_REDACT_PATHS } from './log-redaction.js';
export { LoginRateLimiter, type LoginRateLimiterOptions } from './login-rate-limiter.js';
export { createMetaHandler, createMetaServer, META_PATH, type MetaServer, type MetaSource, type MetaIdentify } from './meta/index.js';
export { ensureTls, type TlsMaterial, type OwnCertificate } from './tls.js';
export { loadOrCreateHostKey, type HostKey } from './ssh/host-key.js';
export { startSshGate, type SshGate } from './ssh/ssh-gate.js';
