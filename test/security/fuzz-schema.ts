import fc from 'fast-check';

/**
 * fast-check arbitraries from the JSON Schemas of the node's OpenAPI document (the subset TypeBox
 * emits: type, properties, required, additionalProperties, items, anyOf, enum, const, pattern,
 * format, min/max bounds, $ref to components). `validValue` makes values the schema accepts;
 * `invalidValue` takes a valid one and breaks it in one place (wrong type, missing required
 * field, extra field, a hostile value somewhere inside).
 *
 * json-schema-fast-check was considered: 0.0.6 depends on fast-check 1.x and on a package the
 * npm registry no longer has, so it neither installs nor composes with fast-check 4.
 */

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  patternProperties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  $ref?: string;
  default?: unknown;
  description?: string;
}

/** Resolves `#/components/schemas/X` (or a bare `X`, the names TypeBox's $id gives) in `doc`. */
export type RefResolver = (ref: string) => JsonSchema;

export function refResolver(doc: { components?: { schemas?: Record<string, JsonSchema> } }): RefResolver {
  return (ref) => {
    const name = ref.replace(/^#\/components\/schemas\//, '');
    const found = doc.components?.schemas?.[name];
    if (found === undefined) throw new Error(`unknown schema reference ${ref}`);
    return found;
  };
}

const noRefs: RefResolver = (ref) => {
  throw new Error(`unresolved reference ${ref}`);
};

/** Any JSON value, small (for `{}` schemas and free-form maps). */
export const smallJson: fc.Arbitrary<unknown> = fc.jsonValue({ maxDepth: 3 });

/** Keys of free-form maps: plain ones mostly, odd ones sometimes. */
const mapKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,20}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

function typeOf(s: JsonSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type[0];
  if (s.type !== undefined) return s.type;
  if (s.properties !== undefined || s.additionalProperties !== undefined) return 'object';
  if (s.items !== undefined) return 'array';
  return undefined;
}

function stringArb(s: JsonSchema): fc.Arbitrary<string> {
  const minLength = s.minLength ?? 0;
  const maxLength = s.maxLength ?? 40;
  if (s.format === 'uuid') return fc.uuid();
  if (s.format === 'date-time')
    return fc.date({ min: new Date(0), max: new Date(4102444800000), noInvalidDate: true }).map((d) => d.toISOString());
  if (s.pattern !== undefined) {
    const re = new RegExp(s.pattern, 'u');
    return fc.stringMatching(re).filter((v) => v.length >= minLength && v.length <= maxLength);
  }
  return fc.string({ minLength, maxLength: Math.min(maxLength, minLength + 40), unit: 'grapheme' }).filter((v) => v.length <= maxLength);
}

function integerArb(s: JsonSchema): fc.Arbitrary<number> {
  const min = s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : (s.minimum ?? -1_000_000);
  const max = s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : (s.maximum ?? Math.max(min + 1_000_000, 1_000_000));
  return fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
}

function numberArb(s: JsonSchema): fc.Arbitrary<number> {
  return fc.double({
    min: s.minimum ?? s.exclusiveMinimum ?? -1e9,
    max: s.maximum ?? s.exclusiveMaximum ?? 1e9,
    minExcluded: s.exclusiveMinimum !== undefined,
    maxExcluded: s.exclusiveMaximum !== undefined,
    noNaN: true,
    noDefaultInfinity: true,
  });
}

/**
 * Values that mean something to the node, by property name (a label name that exists, a driver it
 * runs): used for that property most of the time, so valid bodies get past lookups into the
 * handlers. The caller checks that a hint fits the property's schema.
 */
export type Hints = Readonly<Record<string, fc.Arbitrary<unknown>>>;

/** Values the schema accepts. `depth` bounds recursion through free-form values. */
export function validValue(schema: JsonSchema, resolve: RefResolver = noRefs, depth = 0, hints: Hints = {}): fc.Arbitrary<unknown> {
  if (schema.$ref !== undefined) return validValue(resolve(schema.$ref), resolve, depth, hints);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.enum !== undefined) return fc.constantFrom(...schema.enum);
  const union = schema.anyOf ?? schema.oneOf;
  if (union !== undefined) return fc.oneof(...union.map((b) => validValue(b, resolve, depth, hints)));
  if (schema.allOf !== undefined && schema.allOf.length === 1) return validValue(schema.allOf[0] as JsonSchema, resolve, depth, hints);
  switch (typeOf(schema)) {
    case 'string':
      return stringArb(schema);
    case 'integer':
      return integerArb(schema);
    case 'number':
      return numberArb(schema);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const minLength = schema.minItems ?? 0;
      const maxLength = Math.min(schema.maxItems ?? 4, minLength + 3);
      return fc.array(schema.items === undefined ? smallJson : validValue(schema.items, resolve, depth + 1, hints), {
        minLength,
        maxLength,
      });
    }
    case 'object':
      return objectArb(schema, resolve, depth, hints);
    default:
      return smallJson;
  }
}

function objectArb(schema: JsonSchema, resolve: RefResolver, depth: number, hints: Hints): fc.Arbitrary<Record<string, unknown>> {
  const props = schema.properties ?? {};
  const required = new Set(schema.required ?? []);
  const shape: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, v] of Object.entries(props)) {
    const generated = validValue(v, resolve, depth + 1, hints);
    const hint = hints[k];
    shape[k] = hint === undefined ? generated : fc.oneof({ weight: 6, arbitrary: hint }, { weight: 1, arbitrary: generated });
  }
  const fixed = fc.record(shape, { requiredKeys: [...required].filter((k) => k in props) });
  const patterns = Object.entries(schema.patternProperties ?? {});
  if (patterns.length > 0 && depth <= 4) {
    // TypeBox records: keys matching the pattern, values per its schema
    const maxKeys = Math.min(schema.maxProperties ?? 5, 5);
    const dicts = patterns.map(([re, sub]) =>
      fc.dictionary(
        fc.stringMatching(new RegExp(re, 'u')).filter((k) => k.length <= 40 && !(k in props) && k !== '__proto__'),
        validValue(sub, resolve, depth + 1, hints),
        { maxKeys },
      ),
    );
    return fc.tuple(fixed, ...dicts).map(([f, ...ds]) => Object.assign({}, ...ds, f as Record<string, unknown>) as Record<string, unknown>);
  }
  const extra = schema.additionalProperties;
  if (extra === false || extra === undefined || depth > 4) return fixed;
  const valueArb = extra === true ? smallJson : validValue(extra, resolve, depth + 1, hints);
  const maxKeys = Math.min(schema.maxProperties ?? 5, 5);
  return fc
    .tuple(
      fixed,
      fc.dictionary(
        mapKey.filter((k) => !(k in props) && k !== '__proto__'),
        valueArb,
        { maxKeys },
      ),
    )
    .map(([f, d]) => ({ ...d, ...(f as Record<string, unknown>) }));
}

/** Every place inside a value that can be replaced: [] is the value itself. */
export function pathsOf(
  value: unknown,
  prefix: Array<string | number> = [],
  out: Array<Array<string | number>> = [],
  limit = 200,
): Array<Array<string | number>> {
  if (out.length >= limit) return out;
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out, limit));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) pathsOf(v, [...prefix, k], out, limit);
  }
  return out;
}

/** A copy of `value` with the thing at `path` replaced (or, for `remove`, deleted). */
export function replaceAt(value: unknown, path: Array<string | number>, replacement: unknown, remove = false): unknown {
  if (path.length === 0) return replacement;
  const [head, ...rest] = path as [string | number, ...Array<string | number>];
  if (Array.isArray(value)) {
    const copy: unknown[] = [...(value as unknown[])];
    if (rest.length === 0 && remove) copy.splice(head as number, 1);
    else copy[head as number] = replaceAt(copy[head as number], rest, replacement, remove);
    return copy;
  }
  const obj = value as Record<string, unknown>;
  if (rest.length === 0 && remove) {
    const copy: Record<string, unknown> = { ...obj };
    delete copy[head as string];
    return copy;
  }
  return withKey(obj, String(head), replaceAt(ownValue(obj, String(head)), rest, replacement, remove));
}

/** An own property's value (`__proto__` included), never one inherited. */
export function ownValue(obj: unknown, key: string | number): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  return Object.getOwnPropertyDescriptor(obj, key)?.value;
}

/** Sets an own property even for `__proto__` (JSON.parse would create one). */
export function withKey(obj: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...obj };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Required properties (with their schemas) of every object in the schema, by path in a value. */
function requiredPaths(
  schema: JsonSchema,
  value: unknown,
  resolve: RefResolver,
  prefix: Array<string | number> = [],
): Array<Array<string | number>> {
  const s = schema.$ref !== undefined ? resolve(schema.$ref) : schema;
  const out: Array<Array<string | number>> = [];
  if (value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    if (s.items !== undefined) value.forEach((v, i) => out.push(...requiredPaths(s.items as JsonSchema, v, resolve, [...prefix, i])));
    return out;
  }
  for (const k of s.required ?? []) if (k in value) out.push([...prefix, k]);
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    const v = (value as Record<string, unknown>)[k];
    if (v !== undefined) out.push(...requiredPaths(sub, v, resolve, [...prefix, k]));
  }
  return out;
}

const isAny = (s: unknown): boolean => s === true || (typeof s === 'object' && s !== null && Object.keys(s).length === 0);

/** An object schema whose values may be anything: additionalProperties {} / true, or a TypeBox record of any values. */
function isFreeForm(s: JsonSchema): boolean {
  if (isAny(s.additionalProperties)) return true;
  const patterns = Object.values(s.patternProperties ?? {});
  return patterns.length > 0 && patterns.every(isAny);
}

/** Paths (in `value`) of the objects whose schema takes any key (`metadata`, `options`): where hostile values pass validation. */
export function freeFormPaths(
  schema: JsonSchema,
  value: unknown,
  resolve: RefResolver = noRefs,
  prefix: Array<string | number> = [],
): Array<Array<string | number>> {
  const s = schema.$ref !== undefined ? resolve(schema.$ref) : schema;
  const out: Array<Array<string | number>> = [];
  if (value === null || typeof value !== 'object') return out;
  if (Array.isArray(value)) {
    if (s.items !== undefined) value.forEach((v, i) => out.push(...freeFormPaths(s.items as JsonSchema, v, resolve, [...prefix, i])));
    return out;
  }
  if (isFreeForm(s)) out.push(prefix);
  for (const [k, sub] of Object.entries(s.properties ?? {})) {
    const v = ownValue(value, k);
    if (v !== undefined) out.push(...freeFormPaths(sub, v, resolve, [...prefix, k]));
  }
  return out;
}

/**
 * A valid value with a hostile value under a plain key of one of its free-form objects (deep,
 * wide or huge metadata): it passes the schema, so it reaches the core, the store and the renderers.
 * The free-form object is made present when the schema allows it at the top level.
 */
export function hostileInside(
  schema: JsonSchema,
  hostile: fc.Arbitrary<unknown>,
  resolve: RefResolver = noRefs,
  hints: Hints = {},
): fc.Arbitrary<unknown> {
  const topFree = Object.entries(schema.properties ?? {})
    .filter(([, sub]) => isFreeForm(sub))
    .map(([k]) => k);
  return fc
    .tuple(validValue(schema, resolve, 0, hints), fc.nat(), fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,15}$/), hostile)
    .map(([v, at, key, h]) => {
      let base = v;
      if (base !== null && typeof base === 'object' && !Array.isArray(base)) {
        for (const k of topFree) if (ownValue(base, k) === undefined) base = withKey(base as Record<string, unknown>, k, {});
      }
      const paths = freeFormPaths(schema, base, resolve);
      if (paths.length === 0) return base;
      const path = paths[at % paths.length] as Array<string | number>;
      let target: unknown = base;
      for (const k of path) target = ownValue(target, k);
      return replaceAt(base, path, withKey(target as Record<string, unknown>, key, h));
    });
}

export type Mutation =
  | { kind: 'replace'; at: number; with: unknown }
  | { kind: 'drop-required'; at: number }
  | { kind: 'extra-key'; at: number; key: string; with: unknown };

/**
 * A valid value broken once: `hostile` supplies what goes in (wrong types, deep/wide/huge values,
 * odd strings), `oddKey` the names of added keys.
 */
export function invalidValue(
  schema: JsonSchema,
  hostile: fc.Arbitrary<unknown>,
  oddKey: fc.Arbitrary<string>,
  resolve: RefResolver = noRefs,
  hints: Hints = {},
): fc.Arbitrary<unknown> {
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), with: hostile }),
    fc.record({ kind: fc.constant('drop-required' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('extra-key' as const), at: fc.nat(), key: oddKey, with: hostile }),
  );
  return fc.tuple(validValue(schema, resolve, 0, hints), mutation).map(([v, m]) => applyMutation(schema, v, m, resolve));
}

export function applyMutation(schema: JsonSchema, value: unknown, m: Mutation, resolve: RefResolver = noRefs): unknown {
  if (m.kind === 'drop-required') {
    const req = requiredPaths(schema, value, resolve);
    if (req.length === 0) return undefined;
    return replaceAt(value, req[m.at % req.length] as Array<string | number>, undefined, true);
  }
  const paths = pathsOf(value);
  if (m.kind === 'replace') return replaceAt(value, paths[m.at % paths.length] as Array<string | number>, m.with);
  const objects = paths.filter((p) => {
    let v: unknown = value;
    for (const k of p) v = ownValue(v, k);
    return v !== null && typeof v === 'object' && !Array.isArray(v);
  });
  if (objects.length === 0) return withKey({}, m.key, m.with);
  const at = objects[m.at % objects.length] as Array<string | number>;
  let target: unknown = value;
  for (const k of at) target = ownValue(target, k);
  return replaceAt(value, at, withKey(target as Record<string, unknown>, m.key, m.with));
}
