/**
 * Errors the core throws; the API maps `code` to an HTTP status (src/api/errors.ts) and every code
 * is listed in docs/errors.md.
 */
export const CORE_ERROR_CODES = [
  'UNAUTHORIZED', // no or bad credentials → 401
  'FORBIDDEN', // authenticated but not allowed (e.g. non-admin creating users) → 403
  'NOT_FOUND', // unknown uid/name, or not visible to the caller → 404
  'INVALID', // bad input: the message names the field → 400
  'INVALID_DEFINITION', // a label definition its driver rejects → 400 (details.field, details.definition_index)
  'UNKNOWN_DRIVER', // a label names a driver no node has → 400
  'CONFLICT', // e.g. user exists, app not in a state allowing this → 409
  'UNSATISFIABLE', // request larger than any node could ever hold → 422
  'TOO_MANY_REQUESTS', // login rate limit → 429
  'UNAVAILABLE', // node in maintenance / shutting down → 503
] as const;
export type CoreErrorCode = (typeof CORE_ERROR_CODES)[number];

export class CoreError extends Error {
  readonly code: CoreErrorCode;
  readonly details: unknown;

  constructor(code: CoreErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = 'CoreError';
    this.code = code;
    this.details = details;
  }
}
