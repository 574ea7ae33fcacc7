/**
 * The one duration grammar of Shoal (API fields, config file, CLI options): a whole number
 * followed by a unit — `ms`, `s`, `m`, `h` or `d` — or a bare whole number of seconds.
 * Examples: 500ms, 90s, 30m, 2h, 1d, 45. At most 10 years. Also the human formatter.
 */

/** The grammar as a regular expression source (the API schemas use it as their `pattern`). */
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)?$';

/** Longer than this is surely a mistake (and would overflow timers): 10 years. */
export const MAX_DURATION_MS = 10 * 365 * 86_400_000;

const DURATION = /^([0-9]+)(ms|s|m|h|d)?$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Why a text is not an acceptable duration; `message` says it without naming the field. */
export class DurationError extends Error {
  constructor(
    readonly problem: 'syntax' | 'zero' | 'too-long',
    message: string,
  ) {
    super(message);
    this.name = 'DurationError';
  }
}

/**
 * Milliseconds of a duration text (surrounding blanks ignored). Throws DurationError when the
 * text does not follow the grammar, is 0 (unless `allowZero`) or is longer than 10 years.
 */
export function parseDuration(value: string, opts: { allowZero?: boolean } = {}): number {
  const m = DURATION.exec(value.trim());
  if (!m)
    throw new DurationError('syntax', `"${value}" is not a duration: expected e.g. 500ms, 90s, 30m, 2h or 1d (a bare number is seconds)`);
  const ms = Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
  if (ms === 0 && !opts.allowZero) throw new DurationError('zero', `"${value}" must be greater than 0`);
  if (!(ms <= MAX_DURATION_MS)) throw new DurationError('too-long', `"${value}" is longer than 10 years`);
  return ms;
}

/** Human form of a duration in ms: 850ms, 4.2s, 3m05s, 2h10m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
