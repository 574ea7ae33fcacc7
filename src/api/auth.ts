import type { FastifyRequest } from 'fastify';
import type { Caller, CoreService } from '../core/core-service.js';
import { CoreError } from '../core/errors.js';
import { ApiError } from './errors.js';
import type { LoginRateLimiter } from './login-rate-limiter.js';
import { sourceAddress } from './source-address.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** the authenticated caller; set by the auth hook on every route that needs it */
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** false: the route needs no credentials (health, docs) */
    auth?: boolean;
  }
}

export interface Credentials {
  token: string;
  /** the user name, with Basic auth */
  name?: string;
}

/** Reads `Authorization: Basic base64(user:token)` or `Bearer token`; null when malformed. */
export function parseAuthorization(header: string): Credentials | null {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(header);
  if (m === null) return null;
  const scheme = (m[1] as string).toLowerCase();
  const value = m[2] as string;
  if (scheme === 'bearer') return { token: value };
  if (scheme !== 'basic') return null;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) return null;
  return { name: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

/**
 * Authenticates a request with the core, counting failures per source address: once an address
 * has failed `maxFailures` times within the window it gets 429 with Retry-After, even with good
 * credentials, until the window slides past. Throws ApiError; returns the caller on success.
 */
export async function authenticateRequest(request: FastifyRequest, core: CoreService, limiter: LoginRateLimiter): Promise<Caller> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new ApiError('UNAUTHORIZED', 'authentication required: send "Authorization: Bearer TOKEN" or Basic auth with USER:TOKEN');
  }
  const address = sourceAddress(request);
  const wait = limiter.retryAfter(address);
  if (wait > 0) {
    throw new ApiError('TOO_MANY_REQUESTS', `too many failed logins from ${address}; try again in ${wait} s`, {
      headers: { 'retry-after': String(wait) },
      details: { retry_after: wait },
    });
  }
  const credentials = parseAuthorization(header);
  if (credentials === null) {
    limiter.fail(address);
    throw new ApiError('UNAUTHORIZED', 'malformed Authorization header: use "Bearer TOKEN" or "Basic base64(USER:TOKEN)"');
  }
  let caller: Caller | null;
  try {
    caller = await core.authenticate(credentials.token, credentials.name);
  } catch (err) {
    if (err instanceof CoreError && err.code === 'UNAUTHORIZED') caller = null;
    else throw err;
  }
  if (caller === null) {
    limiter.fail(address);
    throw new ApiError('UNAUTHORIZED', 'invalid credentials: unknown user or wrong token');
  }
  return caller;
}

/** The caller set by the auth hook (a route without auth never calls this). */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new ApiError('UNAUTHORIZED', 'authentication required');
  return request.caller;
}
