import fc from 'fast-check';
import { stringify as toYaml } from 'yaml';

/**
 * Hostile values for the API fuzzer, and how they become request bytes. Deep, wide and huge values
 * are kept as ready-made JSON text (`RawJson`), so building a body 10,000 levels deep costs a string
 * repeat and never a recursion in the test itself.
 */

/** A piece of JSON text placed verbatim in a body (also valid YAML flow syntax). */
export class RawJson {
  constructor(
    readonly text: string,
    /** how it is shown in a failure report */
    readonly label: string,
  ) {}
  toJSON(): string {
    return `<${this.label}>`;
  }
}

/** `depth` levels of arrays, objects or both around a leaf. */
export function deepText(depth: number, kind: 'array' | 'object' | 'mixed', leaf = '1'): string {
  if (kind === 'array') return '['.repeat(depth) + leaf + ']'.repeat(depth);
  if (kind === 'object') return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  const half = Math.floor(depth / 2);
  return '{"a":['.repeat(half) + leaf + ']}'.repeat(half);
}

/** An object with `n` keys (or an array with `n` items). */
export function wideText(n: number, kind: 'array' | 'object'): string {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(kind === 'array' ? String(i % 10) : `"k${i}":${i % 10}`);
  return kind === 'array' ? `[${parts.join(',')}]` : `{${parts.join(',')}}`;
}

export const deepValue: fc.Arbitrary<RawJson> = fc
  .record({
    depth: fc.oneof(
      { weight: 1, arbitrary: fc.integer({ min: 100, max: 3_000 }) },
      { weight: 2, arbitrary: fc.integer({ min: 5_000, max: 12_000 }) },
    ),
    kind: fc.constantFrom('array' as const, 'object' as const, 'mixed' as const),
  })
  .map(({ depth, kind }) => new RawJson(deepText(depth, kind), `${kind} nested ${depth} deep`));

export const wideValue: fc.Arbitrary<RawJson> = fc
  .record({ n: fc.integer({ min: 1_000, max: 20_000 }), kind: fc.constantFrom('array' as const, 'object' as const) })
  .map(({ n, kind }) => new RawJson(wideText(n, kind), `${kind} of ${n} entries`));

/** A string of `length` characters of one kind (ASCII, multibyte, escapes). */
export function hugeString(length: number, unit: string): RawJson {
  return new RawJson(
    JSON.stringify(unit.repeat(Math.ceil(length / unit.length)).slice(0, length)),
    `string of ${length} × ${JSON.stringify(unit)}`,
  );
}

/** Strings sized around `bodyLimit` (just under, just over, far over) and long ones well under it. */
export function hugeValue(bodyLimit: number): fc.Arbitrary<RawJson> {
  return fc
    .record({
      length: fc.oneof(
        fc.integer({ min: bodyLimit - 300, max: bodyLimit + 300 }),
        fc.integer({ min: 10_000, max: Math.max(10_001, bodyLimit >> 2) }),
        fc.constant(bodyLimit * 3),
      ),
      unit: fc.constantFrom('a', 'é', '😀', '\\', '"', '\u0000', '\n'),
    })
    .map(({ length, unit }) => hugeString(Math.max(1, length), unit));
}

/** Numbers JSON can write but JavaScript or a database may not take as written. */
export const oddNumber: fc.Arbitrary<RawJson> = fc
  .constantFrom(
    '1e309',
    '-1e309',
    '-0',
    '1e-400',
    '123456789012345678901234567890',
    '9007199254740993',
    '4294967296',
    '2147483648',
    '-2147483649',
    '0.1e1',
    '1.0',
    '1E2',
    '-1',
    '0',
    '1.5',
  )
  .map((t) => new RawJson(t, `number ${t}`));

/** Strings that break naive code: control characters, lone surrogates, paths, injections, look-alikes. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    'a\u0000b',
    '\uD800',
    '\uDFFF\uD800',
    '\uFEFF',
    '\u202Eevil',
    'e\u0301\u0301\u0301',
    '😀',
    '\r\nX-Injected: 1',
    '../../../../etc/passwd',
    'file:///etc/shadow',
    'http://169.254.169.254/latest/meta-data/',
    '%00',
    '%zz',
    '${jndi:ldap://x}',
    "'; DROP TABLE users; --",
    '<script>alert(1)</script>',
    'null',
    'NaN',
    'undefined',
    'true',
    '0x10',
    '1e999',
    '-0',
    '__proto__',
    'constructor',
    'latest',
    'admin',
    'test',
    '*',
    '.',
    '..',
  ),
  fc.string({ unit: 'binary', maxLength: 64 }),
  fc.string({ unit: 'grapheme', maxLength: 64 }),
  fc.string({ unit: 'binary', minLength: 1000, maxLength: 5000 }),
);

/** Key names that poison or confuse objects. */
export const oddKey: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'hasOwnProperty',
    'toString',
    'valueOf',
    '',
    ' ',
    'a.b',
    '$ref',
    '0',
    '-1',
    '\u0000',
    'K'.repeat(5000),
    'name',
    'role',
    'admin',
    'owner',
    'uid',
  ),
  fc.string({ unit: 'binary', maxLength: 32 }),
);

/** A body value that is not what any field wants: every JSON type, odd numbers and strings, and deep/wide/huge values. */
export function hostileValue(bodyLimit: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom<unknown>(null, true, false, 0, -1, 1.5, '', [], {}) },
    { weight: 3, arbitrary: oddString },
    { weight: 2, arbitrary: oddNumber },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.constant({ constructor: { prototype: { admin: true } } }) },
    { weight: 2, arbitrary: deepValue },
    { weight: 1, arbitrary: wideValue },
    { weight: 1, arbitrary: hugeValue(bodyLimit) },
  );
}

/** Only the bulky kinds: deep, wide, huge (what a free-form map such as metadata is attacked with). */
export function bulkyValue(bodyLimit: number): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 3, arbitrary: deepValue }, { weight: 1, arbitrary: wideValue }, { weight: 1, arbitrary: hugeValue(bodyLimit) });
}

/** JSON text of a value with RawJson pieces in it (own `__proto__` keys are written like any key). */
export function toJsonText(value: unknown): string {
  if (value instanceof RawJson) return value.text;
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(toJsonText).join(',')}]`;
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const v: unknown = Object.getOwnPropertyDescriptor(value, key)?.value;
    if (v !== undefined) parts.push(`${JSON.stringify(key)}:${toJsonText(v)}`);
  }
  return `{${parts.join(',')}}`;
}

function hasRaw(value: unknown): boolean {
  if (value instanceof RawJson) return true;
  if (value === null || typeof value !== 'object') return false;
  return Object.keys(value).some((k) => hasRaw(Object.getOwnPropertyDescriptor(value, k)?.value));
}

/** YAML text of a value: block style when plain, JSON (YAML's flow style) when it holds RawJson pieces. */
export function toYamlText(value: unknown): string {
  if (value === undefined) return '';
  if (hasRaw(value)) return toJsonText(value);
  try {
    return toYaml(value);
  } catch {
    return toJsonText(value);
  }
}

/** Bodies that are not one clean document: syntax errors, YAML features, odd encodings. */
export const oddBodyText: fc.Arbitrary<{ text: Buffer; label: string }> = fc
  .constantFrom(
    ['{', 'truncated JSON'],
    ['{"name":"a",}', 'trailing comma'],
    ['{"name": "a" /* c */}', 'comment'],
    ["{'name':'a'}", 'single quotes'],
    ['{"name":NaN}', 'NaN literal'],
    ['{"name":"a","name":"b"}', 'duplicate key'],
    ['{"__proto__":{"role":"admin"},"name":"x"}', '__proto__ key'],
    ['{"constructor":{"prototype":{"role":"admin"}}}', 'constructor.prototype key'],
    ['\uFEFF{"name":"a"}', 'byte order mark'],
    ['[]', 'empty array'],
    ['""', 'string'],
    ['null', 'null'],
    ['0', 'number'],
    ['  ', 'blank'],
    ['{"a":1}{"b":2}', 'two documents'],
    ['\u0000', 'NUL'],
    [
      'a: &a [1,2]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
      'YAML alias bomb',
    ],
    ['a: &x\n  b: *x\n', 'YAML recursive alias'],
    ['--- 1\n--- 2\n', 'YAML two documents'],
    ['name: a\nname: b\n', 'YAML duplicate key'],
    ['!!js/function "function(){}"', 'YAML unknown tag'],
    ['? [a, b]\n: c\n', 'YAML complex key'],
    ['base: &b {name: x}\n<<: *b\n', 'YAML merge key'],
    ['name: !!binary aGVsbG8=\n', 'YAML binary'],
    ['name: .nan\nrole: .inf\n', 'YAML nan/inf'],
    ['name: 2001-12-14t21:59:43.10-05:00\n', 'YAML timestamp'],
    ['\t- a\n', 'YAML tab indentation'],
    ['%YAML 1.1\n---\nname: yes\n', 'YAML 1.1 directive'],
    ['[' + '['.repeat(5000), 'unclosed deep array'],
    ['- '.repeat(3000) + 'a', 'YAML block sequence 3000 deep'],
    [' '.repeat(2000) + 'a: b', 'deep indentation'],
  )
  .map(([t, label]) => ({ text: Buffer.from(t, 'utf8'), label }));

/** Byte-level oddities: invalid UTF-8, UTF-16, gzip magic. */
export const oddBodyBytes: fc.Arbitrary<{ text: Buffer; label: string }> = fc.constantFrom(
  { text: Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]), label: 'UTF-16LE with BOM' },
  { text: Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xc3, 0x28, 0x22, 0x7d]), label: 'invalid UTF-8 inside a string' },
  { text: Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]), label: 'gzip header' },
  { text: Buffer.from([0xed, 0xa0, 0x80]), label: 'UTF-8 encoded surrogate' },
);
