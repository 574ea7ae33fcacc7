import { CoreError } from './errors.js';

const DURATION = /^([0-9]{1,12})(ms|s|m|h|d)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** Longer than this is surely a mistake (and would overflow timers): 10 years. */
const MAX_MS = 10 * 365 * 86_400_000;

/** Parses "90s", "30m", "2h", "1d", "500ms" or a bare number of seconds; throws INVALID naming `field`. */
export function parseDuration(value: string, field: string): number {
  const m = DURATION.exec(value.trim());
  if (!m) throw new CoreError('INVALID', `${field}: "${value}" is not a duration (examples: 90s, 30m, 2h, 1d)`, { field });
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  if (ms <= 0) throw new CoreError('INVALID', `${field}: must be longer than 0`, { field });
  if (ms > MAX_MS) throw new CoreError('INVALID', `${field}: "${value}" is longer than 10 years`, { field });
  return ms;
}

/** Like parseDuration for optional values: undefined/null/"" → null. */
export function parseOptionalDuration(value: string | null | undefined, field: string): number | null {
  if (value === undefined || value === null || value === '') return null;
  return parseDuration(value, field);
}
