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
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** Certificate-chain errors: the node's CA is not trusted (the fix is --ca). */
const UNTRUSTED_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_SIGNATURE_FAILURE',
]);

/** What to do about a TLS failure with this error code (`caGiven`: the client had a CA to trust). */
export function tlsHint(code: string, url: string, caGiven: boolean): string {
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') return 'is the node running without TLS? then use an http:// URL';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    let host = url;
    try {
      host = new URL(url).hostname;
    } catch {
      // keep the URL as given
    }
    return (
      `the node's certificate does not name "${host}": connect with a name or address it lists` +
      ` (a certificate the node made itself covers its API listen address, its name, localhost, 127.0.0.1 and ::1),` +
      ` or give the node a certificate for this name; --ca does not change this`
    );
  }
  if (code === 'CERT_HAS_EXPIRED') {
    return (
      "the node's certificate has expired: renew it on the node" +
      ' (a node with its own CA re-issues it when it restarts; a brought-your-own certificate must be replaced); --ca does not change this'
    );
  }
  if (code === 'CERT_NOT_YET_VALID') return "the node's certificate is not valid yet: check the clocks of this machine and of the node";
  if (UNTRUSTED_CODES.has(code)) {
    return caGiven
      ? "the CA given (--ca, SHOAL_CA or the saved login) did not sign the node's certificate:" +
          " pass this node's own CA (its shoal-data/tls/ca.crt)"
      : "the node's certificate is not trusted: pass its CA with --ca (e.g. shoal-data/tls/ca.crt)";
  }
  return 'see the TLS error above; --ca FILE trusts a node CA, http:// talks to a --no-tls node';
}

/** Turns a socket-level error from node:http(s) into a ShoalConnectionError that says what to do. */
export function connectionError(err: unknown, url: string, caGiven = false): ShoalConnectionError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : '';
  const detail = err instanceof Error ? err.message : String(err);
  if (TLS_ERROR_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return new ShoalConnectionError('TLS', `TLS failed for ${url}: ${detail} (${tlsHint(code, url, caGiven)})`, { cause: err });
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
