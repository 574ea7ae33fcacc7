import { stringify as yamlStringify } from 'yaml';
import { nestingDepth } from '../../core/metadata-limits.js';

export const META_FORMATS = ['json', 'env', 'yaml'] as const;
export type MetaFormat = (typeof META_FORMATS)[number];

export function isMetaFormat(v: string): v is MetaFormat {
  return (META_FORMATS as readonly string[]).includes(v);
}

export const META_CONTENT_TYPES: Readonly<Record<MetaFormat, string>> = {
  json: 'application/json; charset=utf-8',
  env: 'text/plain; charset=utf-8',
  yaml: 'application/yaml; charset=utf-8',
};

/** Only the top-level keys that start with `prefix` ('' keeps all). */
export function filterPrefix(data: Record<string, unknown>, prefix: string): Record<string, unknown> {
  if (prefix === '') return data;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) if (k.startsWith(prefix)) out[k] = v;
  return out;
}

/** Single-quotes a value for POSIX shells: nothing inside is expanded. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A metadata key as a shell variable name: characters other than [A-Za-z0-9_] become "_". */
export function envName(key: string): string {
  const name = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

function envValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}

/**
 * `KEY='value'` lines that a shell can `eval`/`source` safely: values single-quoted, nested
 * values as JSON, keys made into valid names ("a.b" → "a_b"). When two keys map to the same
 * name, the first one wins.
 */
export function formatEnv(data: Record<string, unknown>): string {
  const seen = new Set<string>();
  let out = '';
  for (const [k, v] of Object.entries(data)) {
    const name = envName(k);
    if (seen.has(name)) continue;
    seen.add(name);
    out += `${name}=${shellQuote(envValue(v))}\n`;
  }
  return out;
}

export function formatMetadata(data: Record<string, unknown>, format: MetaFormat): string {
  switch (format) {
    case 'json':
      return JSON.stringify(data);
    case 'env':
      return formatEnv(data);
    case 'yaml':
      return Object.keys(data).length === 0 ? '{}\n' : yamlStringify(data);
  }
}

/**
 * Deepest metadata any format renders. New metadata is bounded at submission (limits.metadata);
 * this guards data stored by an older node without those limits: the renderers recurse, so such
 * data is refused for that one request instead of overflowing the stack.
 */
export const RENDER_DEPTH_LIMIT = 100;

export class UnrenderableMetadata extends Error {
  constructor(readonly depth: number) {
    super(
      `this resource's metadata is nested deeper than ${RENDER_DEPTH_LIMIT} levels` +
        ` (stored before the node limited metadata); it cannot be rendered`,
    );
    this.name = 'UnrenderableMetadata';
  }
}

/** formatMetadata for any stored data: refuses data too deep to render (no recursion runs on it). */
export function renderMetadata(data: Record<string, unknown>, format: MetaFormat): string {
  const depth = nestingDepth(data, RENDER_DEPTH_LIMIT);
  if (depth > RENDER_DEPTH_LIMIT) throw new UnrenderableMetadata(depth);
  return formatMetadata(data, format);
}
