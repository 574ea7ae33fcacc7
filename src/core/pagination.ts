import { CoreError } from './errors.js';

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

export function pageLimit(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_PAGE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new CoreError('INVALID', `limit: must be a whole number from 1 to ${MAX_PAGE}`, { field: 'limit' });
  }
  return limit;
}

/** Opaque cursors: base64url of a small JSON value. */
export function encodeCursor(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, check: (v: unknown) => v is T): T | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!check(v))
    throw new CoreError('INVALID', 'cursor: not a cursor this list gave out (use next_cursor as returned)', { field: 'cursor' });
  return v;
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isNameVersion = (v: unknown): v is { name: string; version: number } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { name?: unknown }).name === 'string' &&
  isNumber((v as { version?: unknown }).version);
export const isTaskKey = (v: unknown): v is { created_at: string; uid: string } =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as { created_at?: unknown }).created_at === 'string' &&
  typeof (v as { uid?: unknown }).uid === 'string';
