/**
 * Checking a driver's options or config against its TypeBox schema (one declarative schema per
 * driver, like Nomad's TaskConfigSchema): the first problem becomes a DriverError naming the field
 * by its path (`options.images[0].sum: …`). What a schema cannot say (cross-field rules, URL policy,
 * the node's firmware allow-list) stays in the driver's parser, after this check.
 */
import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { DriverError } from '../../contract/index.js';

export interface SchemaCheckOptions {
  /** prefix of every field name ("options." for a definition's options, "" for a config) */
  prefix: string;
  /** makes the error: invalidDefinition or invalidConfig */
  invalid: (field: string, problem: string) => DriverError;
  /** what an unknown top-level key is called in the message ("unknown option") */
  unknown: string;
}

/** null counts as absent, as it always did for driver options and configs. */
function withoutNulls(doc: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(doc).filter(([, v]) => v !== null));
}

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** `/images/0/sum` → `images[0].sum` */
function fieldOf(path: string): string {
  let out = '';
  for (const part of path.split('/').slice(1)) out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

function schemaAt(schema: TSchema, path: string): TSchema | undefined {
  let at: TSchema | undefined = schema;
  for (const part of path.split('/').slice(1)) {
    if (!at) return undefined;
    const props: Record<string, TSchema> | undefined = (at as { properties?: Record<string, TSchema> }).properties;
    const items: TSchema | undefined = (at as { items?: TSchema }).items;
    at = props && part in props ? props[part] : /^\d+$/.test(part) ? items : undefined;
  }
  return at;
}

/** Words for the first error, from the schema that failed. */
function problemOf(root: TSchema, e: ValueError): string {
  const s = e.schema as TSchema & Record<string, unknown>;
  if (e.type === ValueErrorType.ObjectAdditionalProperties) {
    const parent = schemaAt(root, e.path.slice(0, e.path.lastIndexOf('/')));
    const known = Object.keys((parent as { properties?: object } | undefined)?.properties ?? {});
    return `unknown field (known: ${known.join(', ')})`;
  }
  if (typeof s.problem === 'string') return `${s.problem}, got ${shown(e.value)}`;
  switch (s[Kind]) {
    case 'Integer':
      return `must be a whole number from ${String(s.minimum ?? '-∞')} to ${String(s.maximum ?? '∞')}, got ${shown(e.value)}`;
    case 'String':
      return typeof e.value !== 'string' ? `must be a string, got ${shown(e.value)}` : `must be a non-empty string, got ${shown(e.value)}`;
    case 'Union': {
      const values = ((s.anyOf as Array<{ const?: unknown }> | undefined) ?? []).map((o) => o.const).filter((v) => v !== undefined);
      return values.length > 0
        ? `must be one of ${values.map((v) => shown(v)).join(', ')}, got ${shown(e.value)}`
        : `${e.message}, got ${shown(e.value)}`;
    }
    case 'Array':
      if (!Array.isArray(e.value)) return `must be a list, got ${shown(e.value)}`;
      if (typeof s.maxItems === 'number' && e.value.length > s.maxItems) return `at most ${s.maxItems} items`;
      return `must be a non-empty list`;
    case 'Object':
    case 'Record':
      return `must be an object, got ${shown(e.value)}`;
    default:
      return `${e.message}, got ${shown(e.value)}`;
  }
}

/**
 * Checks `doc` (a parsed options or config object) against `schema`; throws the DriverError of the
 * first problem, naming its field. Returns the document without null values (null = absent), typed by the schema.
 */
export function checkAgainstSchema<T extends TObject>(schema: T, doc: Record<string, unknown>, opts: SchemaCheckOptions): Static<T> {
  const known = Object.keys(schema.properties);
  for (const key of Object.keys(doc)) {
    if (!known.includes(key)) throw opts.invalid(`${opts.prefix}${key}`, `${opts.unknown} (known: ${known.join(', ')})`);
  }
  const present = withoutNulls(doc);
  const first = Value.Errors(schema, present).First();
  if (first) {
    const field = fieldOf(first.path);
    if (first.type === ValueErrorType.ObjectRequiredProperty) {
      const s = first.schema as TSchema & { problem?: string; description?: string };
      throw opts.invalid(`${opts.prefix}${field}`, `is required${s.description ? `: ${s.description}` : ''}`);
    }
    throw opts.invalid(`${opts.prefix}${field}`, problemOf(schema, first));
  }
  return present;
}

/** The top-level keys of a schema, in order (what the docs tables must list). */
export function schemaKeys(schema: TObject): string[] {
  return Object.keys(schema.properties);
}

/** A one-line-per-field description of a schema's keys (for the OpenAPI document). */
export function describeFields(schema: TObject): string {
  return Object.entries(schema.properties)
    .map(
      ([key, s]) =>
        `\`${key}\`${schema.required?.includes(key) ? ' (required)' : ''}: ${(s as TSchema & { description?: string }).description ?? ''}`,
    )
    .join('; ');
}
