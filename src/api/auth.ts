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

/** The user a login attempt is for: the Basic user name, else a well-formed Bearer token's id. */
function userKeyOf(credentials: Credentials): string | undefined {
  if (credentials.name !== undefined) return `user:${credentials.name}`;
  const id = /^([0-9a-f]{16})\./.exec(credentials.token)?.[1];
  return id === undefined ? undefined : `token:${id}`;
}

function tooMany(wait: number, limiter: LoginRateLimiter): ApiError {
  return new ApiError(
    'TOO_MANY_REQUESTS',
    `too many failed logins from this network or for this user (limits: ${limiter.maxFailuresPerPrefix} per address prefix, ` +
      `${limiter.maxFailuresPerUser} per user, per ${Math.round(limiter.windowMs / 1000)} s)` +
      `; correct credentials are still accepted; retry in ${wait} s`,
    { headers: { 'retry-after': String(wait) }, details: { retry_after: wait } },
  );
}

/**
 * Authenticates a request with the core, counting failures per address prefix (/24, /64) and per
 * user. Callers over a limit are not locked out: their credentials are checked in the limiter's
 * slow lane (one at a time for all limited callers), a correct token is accepted, a wrong one gets
 * 429 with Retry-After. Throws ApiError; returns the caller on success.
 */
export async function authenticateRequest(request: FastifyRequest, core: CoreService, limiter: LoginRateLimiter): Promise<Caller> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw new ApiError('UNAUTHORIZED', 'authentication required: send "Authorization: Bearer TOKEN" or Basic auth with USER:TOKEN');
  }
  const address = sourceAddress(request);
  const credentials = parseAuthorization(header);
  if (credentials === null) {
    const wait = limiter.retryAfter(address);
    limiter.fail(address);
    if (wait > 0) throw tooMany(wait, limiter);
    throw new ApiError('UNAUTHORIZED', 'malformed Authorization header: use "Bearer TOKEN" or "Basic base64(USER:TOKEN)"');
  }
  const user = userKeyOf(credentials);
  const check = async (): Promise<Caller | null> => {
    try {
      return await core.authenticate(credentials.token, credentials.name);
    } catch (err) {
      if (err instanceof CoreError && err.code === 'UNAUTHORIZED') return null;
      throw err;
    }
  };
  const wait = limiter.retryAfter(address, user);
  if (wait === 0) {
    const caller = await check();
    if (caller !== null) return caller;
    limiter.fail(address, user);
    throw new ApiError('UNAUTHORIZED', 'invalid credentials: unknown user or wrong token');
  }
  // a token verified moments ago costs a SHA-256: it never waits in the slow lane
  const cached = await core.authenticateCached?.(credentials.token, credentials.name);
  if (cached) return cached;
  if (cached === null) {
    limiter.fail(address, user);
    throw tooMany(Math.max(1, limiter.retryAfter(address, user)), limiter);
  }
  const checked = await limiter.slowLane(check);
  if (checked === null) throw tooMany(wait, limiter);
  if (checked.value !== null) return checked.value;
  limiter.fail(address, user);
  throw tooMany(Math.max(1, limiter.retryAfter(address, user)), limiter);
}

/** The caller set by the auth hook (a route without auth never calls this). */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new ApiError('UNAUTHORIZED', 'authentication required');
  return request.caller;
}
