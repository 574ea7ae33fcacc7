import type { TSchema } from '@sinclair/typebox';

/**
 * A copy of `schema` in which every object (and every record: keys must match its pattern)
 * refuses properties it does not declare, so a typo in a request body is a 400 naming the field
 * instead of being silently ignored. Objects that already say what extra properties may be are
 * left as they are. Symbol keys (TypeBox's Kind) are kept: the copy is still a TypeBox schema.
 */
export function closed<T extends TSchema>(schema: T): T {
  return closeNode(schema) as T;
}

/** keywords whose value is data, not a schema */
const LITERAL_KEYWORDS = new Set(['const', 'default', 'examples', 'enum', 'required']);
/** keywords whose value maps names to schemas */
const MAP_KEYWORDS = new Set(['properties', 'patternProperties', '$defs', 'definitions']);

function mapValues(map: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(map)) out[k] = closeNode(v);
  return out;
}

function closeNode(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeNode);
  if (node === null || typeof node !== 'object') return node;
  const src = node as Record<string | symbol, unknown>;
  const out: Record<string | symbol, unknown> = {};
  for (const key of Object.keys(src)) {
    const v = src[key];
    if (LITERAL_KEYWORDS.has(key)) out[key] = v;
    else if (MAP_KEYWORDS.has(key) && v !== null && typeof v === 'object') out[key] = mapValues(v as Record<string, unknown>);
    else out[key] = closeNode(v);
  }
  for (const sym of Object.getOwnPropertySymbols(src)) out[sym] = src[sym];
  const isObject = out.type === 'object' && (out.properties !== undefined || out.patternProperties !== undefined);
  if (isObject && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}
