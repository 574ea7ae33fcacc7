import { DurationError, parseDuration as parseDurationText } from '../lib/durations.js';
import { CoreError } from './errors.js';

/** Parses a duration (src/lib/durations.ts: "90s", "30m", "2h", "1d", "500ms", bare seconds) > 0; throws INVALID naming `field`. */
export function parseDuration(value: string, field: string): number {
  try {
    return parseDurationText(value);
  } catch (e) {
    if (e instanceof DurationError) throw new CoreError('INVALID', `${field}: ${e.message}`, { field });
    throw e;
  }
}

/** Like parseDuration for optional values: undefined/null/"" → null. */
export function parseOptionalDuration(value: string | null | undefined, field: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  return parseDuration(value, field);
}
