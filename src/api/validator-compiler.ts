import { FormatRegistry, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME_RE = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => UUID_RE.test(v));
if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => DATE_TIME_RE.test(v) && !Number.isNaN(Date.parse(v)));

/** At most this many problems are reported for one request part. */
const MAX_ERRORS = 5;

/** One problem, in the shape Fastify puts in `error.validation` (Ajv-compatible fields). */
export interface FieldProblem extends FastifySchemaValidationError {
  message: string;
}

/**
 * Validates every request part with the same TypeBox schema that types the handler and documents
 * the route (no Ajv coercion surprises in bodies: "2" is not an integer there). Query strings,
 * params and headers are converted first ("5" → 5), and defaults are filled in. Problems come
 * back with messages that name the field: "body/definitions/0/requirements/cpu must be >= 1".
 * Why not @fastify/type-provider-typebox's TypeBoxValidatorCompiler: it fills in no defaults and
 * hands on only TypeBox's message text and path, without the error kind and schema that these
 * messages are made from (bounds, descriptions, union forms); one problem per field, at most 5.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const check = TypeCompiler.Compile(schema);
  const isBody = httpPart === 'body';
  return (input: unknown) => {
    let value = input;
    if (!isBody && value !== null && value !== undefined) value = Value.Convert(schema, value);
    if (value !== null && value !== undefined) value = Value.Default(schema, value);
    if (check.Check(value)) return { value };
    return { error: describe(check.Errors(value), isBody && (input === null || input === undefined)) };
  };
};

function describe(errors: Iterable<ValueError>, bodyMissing: boolean): FieldProblem[] {
  if (bodyMissing) {
    return [{ instancePath: '', message: 'is required: send a JSON or YAML object', keyword: 'required', schemaPath: '', params: {} }];
  }
  const out: FieldProblem[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    if (seen.has(e.path)) continue; // one problem per field: "required" hides the type error that follows it
    seen.add(e.path);
    out.push({ instancePath: e.path, message: problem(e), keyword: ValueErrorType[e.type] ?? 'invalid', schemaPath: '', params: {} });
    if (out.length >= MAX_ERRORS) break;
  }
  if (out.length === 0) out.push({ instancePath: '', message: 'is not valid', keyword: 'invalid', schemaPath: '', params: {} });
  return out;
}

interface SchemaFacts {
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  description?: string;
  const?: unknown;
  anyOf?: SchemaFacts[];
  patternProperties?: Record<string, unknown>;
  propertyNames?: unknown;
}

/** A union branch in words: a literal, or a simple type with its bounds; null when not simple. */
function form(b: SchemaFacts & { type?: unknown }): string | null {
  if (b.const !== undefined) return JSON.stringify(b.const);
  const bounds = b.minimum !== undefined ? ` >= ${b.minimum}` : '';
  if (b.type === 'integer') return `an integer${bounds}`;
  if (b.type === 'number') return `a number${bounds}`;
  if (b.type === 'boolean') return 'a boolean';
  if (b.type === 'string') return 'a string';
  return null;
}

/** A short, fixable description of one problem (the field path is put in front by Fastify). */
export function problem(e: ValueError): string {
  const s = e.schema as SchemaFacts;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.ObjectAdditionalProperties: {
      if (s.patternProperties !== undefined) {
        return s.description ? `is not an allowed key (${s.description})` : 'is not an allowed key';
      }
      return 'is not a known field (remove it or check its spelling)';
    }
    case ValueErrorType.Object:
      return 'must be an object';
    case ValueErrorType.Array:
      return 'must be an array';
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.Integer:
      return 'must be an integer';
    case ValueErrorType.Number:
      return 'must be a number';
    case ValueErrorType.Boolean:
      return 'must be a boolean (true or false)';
    case ValueErrorType.Null:
      return 'must be null';
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be >= ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be <= ${s.maximum}`;
    case ValueErrorType.IntegerExclusiveMinimum:
    case ValueErrorType.NumberExclusiveMinimum:
      return `must be > ${s.exclusiveMinimum}`;
    case ValueErrorType.IntegerExclusiveMaximum:
    case ValueErrorType.NumberExclusiveMaximum:
      return `must be < ${s.exclusiveMaximum}`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `must be at least ${s.minLength} characters long`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${s.maxLength} characters long`;
    case ValueErrorType.StringPattern:
      return s.description ? `is not valid: ${s.description}` : `must match ${s.pattern}`;
    case ValueErrorType.StringFormat:
      return `must be a ${s.format === 'uuid' ? 'UUID' : s.format === 'date-time' ? 'date-time (ISO 8601)' : s.format}`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${s.minItems} item${s.minItems === 1 ? '' : 's'}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${s.maxItems} items`;
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(s.const)}`;
    case ValueErrorType.Union: {
      const forms = (s.anyOf ?? []).map(form);
      if (forms.length > 0 && forms.every((f) => f !== null)) return `must be one of: ${forms.join(', ')}`;
      return 'does not match any of the allowed forms';
    }
    default:
      return e.message.charAt(0).toLowerCase() + e.message.slice(1);
  }
}
