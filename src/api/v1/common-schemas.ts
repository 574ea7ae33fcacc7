import { Type, type TSchema } from '@sinclair/typebox';
import { ErrorBody, PageQuery, Uid } from '../../model/index.js';

/**
 * Route schema pieces shared by the v1 routes. Imports only TypeBox and the model, so a client
 * can reuse them.
 */

const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Bad input (INVALID, MALFORMED_BODY, INVALID_DEFINITION, UNKNOWN_DRIVER): the message names the field or the problem',
  401: 'UNAUTHORIZED: no or bad credentials (see WWW-Authenticate)',
  403: 'FORBIDDEN: authenticated, but this needs the admin role',
  404: 'NOT_FOUND: unknown, or not visible to the caller',
  409: 'CONFLICT: the state does not allow this (e.g. the name exists)',
  413: 'PAYLOAD_TOO_LARGE: the body is larger than the limit',
  415: 'UNSUPPORTED_MEDIA_TYPE: send application/json or application/yaml',
  422: 'UNSATISFIABLE: larger than any node could ever hold',
  429:
    'TOO_MANY_REQUESTS: too many failed logins from this address prefix or for this user' +
    ' (see Retry-After; correct credentials are still accepted), or too many open event streams',
  500: 'INTERNAL: an unexpected failure; the node log has the cause',
  503: 'UNAVAILABLE: the node is in maintenance or shutting down',
};

/** The error body, described for one status (no $id: one copy per status). */
export function errorResponse(status: number): typeof ErrorBody {
  const { $id: _id, ...rest } = ErrorBody;
  return { ...rest, description: ERROR_DESCRIPTIONS[status] ?? 'error' };
}

type ErrorMap = Record<400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503, typeof ErrorBody>;

/** Every authenticated route can answer these. */
const AUTHED = [400, 401, 429, 500] as const;

/**
 * A response map: the success schemas plus the error body for the common statuses and `extra`
 * ones (403, 404, 409, 413, 415, 422, 503).
 */
export function responses<T extends Record<number, unknown>>(ok: T, ...extra: Array<keyof ErrorMap>): T & Partial<ErrorMap> {
  const out: Record<number, unknown> = { ...ok };
  for (const s of [...AUTHED, ...extra]) out[s] = errorResponse(s);
  return out as T & Partial<ErrorMap>;
}

/** Statuses every route with a body can also answer. */
export const BODY_ERRORS = [413, 415] as const;

/** A non-JSON success response (text, event stream), documented under its own media type. */
export function mediaResponse<T extends TSchema>(
  mediaType: string,
  schema: T,
): { description: string; content: Record<string, { schema: T }> } {
  return { description: schema.description ?? mediaType, content: { [mediaType]: { schema } } };
}

export const UidParams = Type.Object({ uid: Uid });

export const NoContent = Type.Null({ description: 'done; no body' });

export { PageQuery };
