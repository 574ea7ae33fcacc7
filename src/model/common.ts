import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../lib/durations.js';

export const Uid = Type.String({ format: 'uuid', description: 'unique id (UUID)' });
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601 time, UTC' });
/** Metadata: a flat or nested JSON object; values are never logged. */
export const Metadata = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$' }), Type.Unknown(), {
  description:
    'key → value; keys are letters, digits, "_", "." or "-", starting with a letter or "_"; bounded in depth, key count, key length and ' +
    'JSON size by the node (limits.metadata: 16 levels, 1000 keys, 128 characters, 64 KiB by default)',
  additionalProperties: false,
});
export type Metadata = Static<typeof Metadata>;

/** A duration like "90s", "30m", "2h", "1d" (or a number of seconds). */
export const Duration = Type.String({ pattern: DURATION_PATTERN, description: 'duration: 90s, 30m, 2h, 1d' });

export const ErrorBody = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable error code, see docs/errors.md' }),
      message: Type.String({ description: 'what is wrong and what to fix' }),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBody>;

export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of the previous page' })),
});
export type PageQuery = Static<typeof PageQuery>;

/** A page of a list: items, and the cursor for the next page (absent on the last one). */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({ items: Type.Array(item), next_cursor: Type.Optional(Type.String()) });
}
export interface PageOf<T> {
  items: T[];
  next_cursor?: string;
}
