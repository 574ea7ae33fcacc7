/**
 * Errors the client throws. `ShoalApiError` is an answer from the node in the API's one error
 * shape (`{"error":{"code","message","details"?}}`); `ShoalConnectionError` means no usable
 * answer came back (refused, TLS, timeout, not a Shoal API).
 */
export class ShoalApiError extends Error {
  /** HTTP status of the answer (4xx/5xx). */
  readonly status: number;
  /** Stable error code from the API (e.g. NOT_FOUND), or HTTP_<status> when the body had none. */
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = 'ShoalApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const CONNECTION_ERROR_CODES = ['UNREACHABLE', 'TLS', 'TIMEOUT', 'BAD_RESPONSE'] as const;
export type ConnectionErrorCode = (typeof CONNECTION_ERROR_CODES)[number];

export class ShoalConnectionError extends Error {
  readonly code: ConnectionErrorCode;

  constructor(code: ConnectionErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ShoalConnectionError';
    this.code = code;
  }
}

const TLS_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** Turns a socket-level error from node:http(s) into a ShoalConnectionError that says what to do. */
export function connectionError(err: unknown, url: string): ShoalConnectionError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : '';
  const detail = err instanceof Error ? err.message : String(err);
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    const hint =
      code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO'
        ? 'is the node running without TLS? then use an http:// URL'
        : "the node's certificate is not trusted: pass its CA with --ca (e.g. shoal-data/tls/ca.crt)";
    return new ShoalConnectionError('TLS', `TLS failed for ${url}: ${detail} (${hint})`, { cause: err });
  }
  if (code === 'ECONNREFUSED') {
    return new ShoalConnectionError('UNREACHABLE', `cannot connect to ${url}: connection refused (is \`shoal serve\` running there?)`, {
      cause: err,
    });
  }
  if (code === 'ECONNRESET' && url.startsWith('http:')) {
    return new ShoalConnectionError('UNREACHABLE', `connection to ${url} was reset (does the node use TLS? then use an https:// URL)`, {
      cause: err,
    });
  }
  return new ShoalConnectionError('UNREACHABLE', `cannot reach ${url}: ${detail}`, { cause: err });
}
