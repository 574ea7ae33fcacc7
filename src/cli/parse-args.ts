import { DurationError, DURATION_PATTERN, parseDuration } from '../lib/durations.js';
import { UsageError } from './errors.js';

export { formatDuration } from '../lib/durations.js';

/** Same rule as the API's Metadata keys (src/model/common.ts). */
const METADATA_KEY = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
const LABEL_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** commander "collect" for repeatable options. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * `-m KEY=VAL` pairs → metadata object. The value is everything after the first "=" (may be
 * empty or contain "="); a key given twice, a missing "=" or a bad key is a usage error.
 */
export function parseMetadataArgs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq === -1) throw new UsageError(`-m "${pair}": expected KEY=VALUE (e.g. -m JOB=42)`);
    const key = pair.slice(0, eq);
    if (key === '') throw new UsageError(`-m "${pair}": the key before "=" is empty`);
    if (!METADATA_KEY.test(key)) {
      throw new UsageError(
        `-m "${key}=…": bad key "${key}": keys start with a letter or "_" and contain only letters, digits, "_", "." or "-" (at most 128)`,
      );
    }
    if (Object.hasOwn(out, key)) throw new UsageError(`-m: metadata key "${key}" is given twice`);
    out[key] = pair.slice(eq + 1);
  }
  return out;
}

export interface LabelRef {
  name: string;
  /** undefined = latest */
  version?: number;
}

/** `NAME[:VERSION]` ("latest" allowed as version). */
export function parseLabelRef(ref: string): LabelRef {
  const colon = ref.lastIndexOf(':');
  const name = colon === -1 ? ref : ref.slice(0, colon);
  const version = colon === -1 ? undefined : ref.slice(colon + 1);
  if (!LABEL_NAME.test(name)) {
    throw new UsageError(`label "${ref}": the name must be lowercase letters, digits, ".", "_" or "-" (e.g. busybox or busybox:3)`);
  }
  if (version === undefined || version === 'latest') return { name };
  if (!/^[1-9][0-9]{0,8}$/.test(version)) throw new UsageError(`label "${ref}": the version after ":" must be a number ≥ 1 or "latest"`);
  return { name, version: Number(version) };
}

export function isUid(s: string): boolean {
  return UUID.test(s);
}

const DURATION = new RegExp(DURATION_PATTERN);

/** Checks a duration for the API (src/lib/durations.ts grammar: "90s", "30m", "2h", "1d", or seconds) and returns it unchanged. */
export function checkDuration(value: string, option: string): string {
  if (!DURATION.test(value)) throw new UsageError(`${option} "${value}": expected a duration like 90s, 30m, 2h or 1d`);
  return value;
}

/** A duration in milliseconds, greater than 0; a bare number is seconds. */
export function parseDurationMs(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    if (!(e instanceof DurationError)) throw e;
    if (e.problem === 'syntax') throw new UsageError(`${option} "${value}": expected a duration like 90s, 30m, 2h or 1d`);
    throw new UsageError(`${option} ${e.message}`);
  }
}

/** A positive integer option (e.g. --limit). */
export function parsePositiveInt(value: string, option: string, max = 1_000_000): number {
  if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new UsageError(`${option} "${value}": expected a whole number from 1 to ${max}`);
  }
  return Number(value);
}
