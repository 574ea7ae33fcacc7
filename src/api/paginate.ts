import type { PageOf } from '../model/index.js';
import { ApiError } from './errors.js';

const DEFAULT_LIMIT = 100;

/**
 * One page of a list the core returns whole (states, tasks, nodes: short lists), so every list
 * endpoint has the same `{items, next_cursor}` shape. The cursor is an opaque offset.
 */
export function paginate<T>(all: readonly T[], page: { limit?: number; cursor?: string }): PageOf<T> {
  const limit = page.limit ?? DEFAULT_LIMIT;
  const offset = page.cursor === undefined ? 0 : decodeCursor(page.cursor);
  const items = all.slice(offset, offset + limit);
  const end = offset + items.length;
  return end < all.length ? { items, next_cursor: encodeCursor(end) } : { items };
}

export function encodeCursor(offset: number): string {
  return Buffer.from(`o:${offset}`).toString('base64url');
}

function decodeCursor(cursor: string): number {
  const m = /^o:(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (m === null) throw new ApiError('INVALID', 'querystring/cursor is not valid: pass the next_cursor of the previous page');
  return Number(m[1]);
}
