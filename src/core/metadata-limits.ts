import { CoreError } from './errors.js';

/**
 * Bounds of label and application metadata, checked at submission (before anything is stored),
 * so everything that later renders metadata (Meta API formats, API responses, env variables) works
 * on bounded data. The node config can change them (`limits.metadata`).
 */
export interface MetadataLimits {
  /** nesting levels: the metadata object itself is level 1, `{A: {b: 1}}` has 2 */
  depth: number;
  /** keys and array items in the whole tree */
  keys: number;
  /** characters of any key, at any level */
  keyLength: number;
  /** bytes of the metadata as JSON */
  bytes: number;
}

export const DEFAULT_METADATA_LIMITS: Readonly<MetadataLimits> = Object.freeze({
  depth: 16,
  keys: 1000,
  keyLength: 128,
  bytes: 64 * 1024,
});

function isContainer(v: unknown): v is Record<string, unknown> | unknown[] {
  return typeof v === 'object' && v !== null;
}

/**
 * Nesting depth of a JSON-like value without recursion (a scalar is 0, `{}` is 1), stopping as
 * soon as it passes `max`: returns `max + 1` then. Safe on any input, however deep.
 */
export function nestingDepth(value: unknown, max: number): number {
  if (!isContainer(value)) return 0;
  const stack: Array<{ v: Record<string, unknown> | unknown[]; d: number }> = [{ v: value, d: 1 }];
  let deepest = 1;
  while (stack.length > 0) {
    const { v, d } = stack.pop()!;
    if (d > deepest) deepest = d;
    if (deepest > max) return max + 1;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (const c of children) if (isContainer(c)) stack.push({ v: c, d: d + 1 });
  }
  return deepest;
}

/**
 * Checks the bounds of a metadata tree (already known to be an object); throws INVALID naming the
 * limit, the value found and the node setting that changes it. Never recursive, stops early.
 */
export function checkMetadataLimits(value: Record<string, unknown>, field: string, limits: MetadataLimits): void {
  const fail = (what: string, setting: string, extra: Record<string, unknown>): never => {
    throw new CoreError('INVALID', `${field}: ${what} (node setting limits.metadata.${setting})`, { field, ...extra });
  };
  const stack: Array<{ v: Record<string, unknown> | unknown[]; d: number; path: string }> = [{ v: value, d: 1, path: field }];
  let entries = 0;
  while (stack.length > 0) {
    const { v, d, path } = stack.pop()!;
    if (d > limits.depth)
      fail(`nested deeper than the limit of ${limits.depth} levels (at ${path.slice(0, 200)})`, 'depth', { limit: limits.depth });
    if (Array.isArray(v)) {
      entries += v.length;
      if (entries > limits.keys) fail(`has more than the limit of ${limits.keys} keys and array items`, 'keys', { limit: limits.keys });
      v.forEach((c, i) => {
        if (isContainer(c)) stack.push({ v: c, d: d + 1, path: `${path}[${i}]` });
      });
      continue;
    }
    const keys = Object.keys(v);
    entries += keys.length;
    if (entries > limits.keys) fail(`has more than the limit of ${limits.keys} keys and array items`, 'keys', { limit: limits.keys });
    for (const k of keys) {
      if (k.length > limits.keyLength) {
        fail(
          `key "${k.slice(0, 40)}…" at ${path.slice(0, 200)} is ${k.length} characters long, over the limit of ${limits.keyLength}`,
          'key_length',
          {
            limit: limits.keyLength,
          },
        );
      }
      const c = v[k];
      if (isContainer(c)) stack.push({ v: c, d: d + 1, path: `${path}.${k}` });
    }
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > limits.bytes) fail(`is ${bytes} bytes as JSON, over the limit of ${limits.bytes}`, 'bytes', { limit: limits.bytes });
}
