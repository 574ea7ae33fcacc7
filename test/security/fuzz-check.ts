import type { RawResponse } from '../helpers/raw-http.js';
import { ALL_ERROR_CODES } from '../../src/api/errors.js';
import { excerpt } from './fuzz-requests.js';

/**
 * What every answer of the node must be, whatever was asked: no 5xx (a documented 503
 * UNAVAILABLE aside), every 4xx in the one error shape {"error":{"code","message","details"?}}
 * with a known code, and every JSON success parseable.
 */

/** Problems with one answer; empty when it is fine. */
export function answerProblems(res: RawResponse, opts: { head: boolean; allow503: boolean }): string[] {
  const problems: string[] = [];
  const ct = res.headers['content-type'] ?? '';
  const text = res.body.toString('utf8');
  if (res.status >= 500) {
    const unavailable = res.status === 503 && errorCode(text) === 'UNAVAILABLE';
    if (!(opts.allow503 && unavailable)) problems.push(`status ${res.status} (no request may make the node answer 5xx)`);
  }
  if (res.status >= 400 && !opts.head) problems.push(...errorShapeProblems(ct, text));
  if (res.trailing !== undefined && res.trailing.length > 0) {
    problems.push(
      `a second answer followed the first on the same connection: ${JSON.stringify(excerpt(res.trailing.toString('latin1'), 120))}`,
    );
  }
  if (res.status >= 200 && res.status < 300 && !opts.head && !res.streamed && ct.startsWith('application/json')) {
    try {
      JSON.parse(text);
    } catch (err) {
      problems.push(`a ${res.status} with Content-Type ${ct} whose body is not JSON: ${(err as Error).message}`);
    }
  }
  return problems;
}

function errorCode(text: string): unknown {
  try {
    return (JSON.parse(text) as { error?: { code?: unknown } }).error?.code;
  } catch {
    return undefined;
  }
}

/** The one error shape, with a code listed in docs/errors.md. */
export function errorShapeProblems(contentType: string, text: string): string[] {
  if (!contentType.startsWith('application/json'))
    return [`an error answered with Content-Type ${JSON.stringify(contentType)}, not application/json`];
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [`an error body that is not JSON: ${JSON.stringify(excerpt(text, 200))}`];
  }
  const problems: string[] = [];
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    return [`an error body that is not an object: ${excerpt(text, 200)}`];
  const keys = Object.keys(body);
  if (keys.length !== 1 || keys[0] !== 'error') problems.push(`an error body with keys ${JSON.stringify(keys)} (only "error" is allowed)`);
  const e = (body as { error?: unknown }).error;
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return [...problems, `"error" is not an object: ${excerpt(text, 200)}`];
  const rec = e as Record<string, unknown>;
  for (const k of Object.keys(rec))
    if (!['code', 'message', 'details'].includes(k)) problems.push(`"error" has an unexpected key ${JSON.stringify(k)}`);
  if (typeof rec.code !== 'string' || !(ALL_ERROR_CODES as readonly string[]).includes(rec.code))
    problems.push(`error code ${JSON.stringify(rec.code)} is not one of the documented codes`);
  if (typeof rec.message !== 'string' || rec.message === '') problems.push('error message missing or empty');
  return problems;
}

/** The request id in an INTERNAL error's message ("internal error (request req-1f)"), to find its log lines. */
export function requestIdOf(res: RawResponse): string | null {
  const m = /\(request ([^)\s]+)\)/.exec(res.body.toString('utf8'));
  return m ? (m[1] as string) : null;
}
