import type { FastifyRequest } from 'fastify';

/**
 * pino redaction paths for anything that may hold a secret: Authorization headers, tokens and
 * metadata values. The API's child logger applies them; main/ should pass them to the root
 * logger too (`pino({ redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } })`).
 */
export const LOG_REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'metadata',
  '*.metadata',
  'body',
  '*.body',
];

/** What a request log line carries: no headers, no body, no query string. */
export function requestSerializer(req: FastifyRequest): Record<string, unknown> {
  return {
    id: req.id,
    method: req.method,
    url: (req.url ?? '').split('?')[0],
    remoteAddress: req.socket?.remoteAddress,
  };
}
