import { CORE_ERROR_CODES, CoreError, type CoreErrorCode } from '../core/errors.js';
import type { ErrorBody } from '../model/index.js';

/**
 * Error codes the HTTP layer adds to the core's (every one is listed in docs/errors.md; a test
 * checks it). Core codes keep their names on the wire.
 */
export const API_ERROR_CODES = [
  'MALFORMED_BODY', // the body is not valid JSON/YAML → 400 (details.line, details.column)
  'PAYLOAD_TOO_LARGE', // the body is larger than the limit → 413
  'UNSUPPORTED_MEDIA_TYPE', // a Content-Type the API does not read → 415
  'INTERNAL', // a bug or an unexpected failure; the log has the cause → 500
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

export type ErrorCode = CoreErrorCode | ApiErrorCode;

/** HTTP status of every error code: the one place this mapping lives. */
export const HTTP_STATUS: Readonly<Record<ErrorCode, number>> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  INVALID: 400,
  INVALID_DEFINITION: 400,
  UNKNOWN_DRIVER: 400,
  CONFLICT: 409,
  UNSATISFIABLE: 422,
  TOO_MANY_REQUESTS: 429,
  UNAVAILABLE: 503,
  MALFORMED_BODY: 400,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  INTERNAL: 500,
};

export const ALL_ERROR_CODES: readonly ErrorCode[] = [...CORE_ERROR_CODES, ...API_ERROR_CODES];

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && (ALL_ERROR_CODES as readonly string[]).includes(v);
}

/** An error raised by the HTTP layer itself (bad body, auth, rate limit, …). */
export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly statusCode: number;
  /** extra response headers (WWW-Authenticate, Retry-After) */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: ErrorCode, message: string, options?: { details?: unknown; headers?: Record<string, string> }) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.details = options?.details;
    this.statusCode = HTTP_STATUS[code];
    this.headers = options?.headers ?? {};
  }
}

/** The WWW-Authenticate challenge sent with every 401. */
export const AUTH_CHALLENGE = 'Basic realm="shoal", charset="UTF-8", Bearer realm="shoal"';

/** What a response needs: status, headers and the one error body. */
export interface MappedError {
  status: number;
  headers: Record<string, string>;
  body: ErrorBody;
}

function body(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  return details === undefined ? { error: { code, message } } : { error: { code, message, details } };
}

/**
 * Maps an ApiError or CoreError to status, headers and body. Anything else is not mapped here
 * (the error handler decides: Fastify's own errors, or INTERNAL).
 */
export function mapKnownError(err: unknown): MappedError | null {
  if (err instanceof ApiError) {
    const headers: Record<string, string> = { ...err.headers };
    if (err.code === 'UNAUTHORIZED' && headers['www-authenticate'] === undefined) headers['www-authenticate'] = AUTH_CHALLENGE;
    return { status: err.statusCode, headers, body: body(err.code, err.message, err.details) };
  }
  if (err instanceof CoreError || (err instanceof Error && err.name === 'CoreError' && isErrorCode((err as { code?: unknown }).code))) {
    const ce = err as CoreError;
    const headers: Record<string, string> = {};
    if (ce.code === 'UNAUTHORIZED') headers['www-authenticate'] = AUTH_CHALLENGE;
    if (ce.code === 'TOO_MANY_REQUESTS') headers['retry-after'] = retryAfterOf(ce.details);
    return { status: HTTP_STATUS[ce.code], headers, body: body(ce.code, ce.message, ce.details) };
  }
  return null;
}

function retryAfterOf(details: unknown): string {
  if (details !== null && typeof details === 'object') {
    const v = (details as { retry_after?: unknown }).retry_after;
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return String(Math.ceil(v));
  }
  return '60';
}
