import type { FastifyInstance } from 'fastify';
import { parseDocument } from 'yaml';
import { ApiError } from './errors.js';
import { nestingDepth } from '../core/metadata-limits.js';
import { DEFAULT_BODY_DEPTH, jsonNestingProblem, yamlNestingProblem, type NestingProblem } from './body-nesting.js';
import { findJsonProblem } from './json-error-position.js';

export const JSON_TYPES = ['application/json'] as const;
export const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'] as const;

/** YAML aliases may expand at most this many times (a "billion laughs" body is refused). */
const MAX_YAML_ALIASES = 100;

/**
 * Parses a JSON body. Empty → undefined (the route's schema then says the body is required).
 * Malformed → MALFORMED_BODY naming line and column.
 */
export function parseJsonBody(text: string, maxDepth: number = DEFAULT_BODY_DEPTH): unknown {
  if (text.trim() === '') return undefined;
  const deep = jsonNestingProblem(text, maxDepth);
  if (deep !== null) throw tooDeep('json', deep, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('json', null, maxDepth);
    const p = findJsonProblem(text);
    if (p === null) throw new ApiError('MALFORMED_BODY', `body is not valid JSON: ${(err as Error).message}`);
    throw new ApiError('MALFORMED_BODY', `body is not valid JSON: ${p.problem} at line ${p.line}, column ${p.column}`, {
      details: { format: 'json', line: p.line, column: p.column },
    });
  }
  refusePoisonedKeys(value);
  return value;
}

/** Parses a YAML body (one document, YAML 1.2 core schema, unique keys). */
export function parseYamlBody(text: string, maxDepth: number = DEFAULT_BODY_DEPTH): unknown {
  if (text.trim() === '') return undefined;
  const deep = yamlNestingProblem(text, maxDepth);
  if (deep !== null) throw tooDeep('yaml', deep, maxDepth);
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true, schema: 'core' });
  const first = doc.errors[0];
  if (first !== undefined) {
    const pos = first.linePos?.[0];
    const what = firstLine(first.message);
    const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
    throw new ApiError('MALFORMED_BODY', `body is not valid YAML: ${what}${where}`, {
      details: pos ? { format: 'yaml', line: pos.line, column: pos.col } : { format: 'yaml' },
    });
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    if (err instanceof RangeError) throw tooDeep('yaml', null, maxDepth);
    throw new ApiError('MALFORMED_BODY', `body is not valid YAML: ${firstLine((err as Error).message)}`, { details: { format: 'yaml' } });
  }
  // aliases can nest a value deeper than its text shows
  if (nestingDepth(value, maxDepth) > maxDepth) throw tooDeep('yaml', null, maxDepth);
  refusePoisonedKeys(value);
  return value;
}

function tooDeep(format: 'json' | 'yaml', at: NestingProblem | null, limit: number): ApiError {
  const where = at ? ` at line ${at.line}, column ${at.column}` : '';
  return new ApiError('MALFORMED_BODY', `body is nested deeper than the limit of ${limit} levels${where}`, {
    details: at ? { format, limit, line: at.line, column: at.column } : { format, limit },
  });
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  // yaml's pretty messages end with " at line L, column C:" — the position is added separately
  return line.replace(/ at line \d+, column \d+:?$/, '').replace(/:$/, '');
}

/** `__proto__` / `constructor.prototype` keys are refused: they are never valid and can poison merges. */
function refusePoisonedKeys(root: unknown): void {
  const stack: Array<{ v: unknown; path: string }> = [{ v: root, path: 'body' }];
  while (stack.length > 0) {
    const { v, path } = stack.pop() as { v: unknown; path: string };
    if (v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) {
      v.forEach((x, i) => stack.push({ v: x, path: `${path}/${i}` }));
      continue;
    }
    for (const key of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[key];
      if (key === '__proto__' || (key === 'constructor' && child !== null && typeof child === 'object' && 'prototype' in child)) {
        throw new ApiError('INVALID', `${path}/${key} is not an allowed key`);
      }
      stack.push({ v: child, path: `${path}/${key}` });
    }
  }
}

/**
 * Replaces Fastify's JSON and text parsers with ours (JSON + YAML, errors naming line/column).
 * Any other Content-Type → 415 UNSUPPORTED_MEDIA_TYPE (mapped by the error handler).
 */
export function registerBodyParsers(app: FastifyInstance, maxDepth: number = DEFAULT_BODY_DEPTH): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser([...JSON_TYPES], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addContentTypeParser([...YAML_TYPES], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYamlBody(body as string, maxDepth));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
}
