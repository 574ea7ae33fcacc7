import fc from 'fast-check';
import type { RawRequest } from '../helpers/raw-http.js';
import { hostileInside, invalidValue, refResolver, validValue, type Hints, type JsonSchema, type RefResolver } from './fuzz-schema.js';
import { bulkyValue, hostileValue, oddBodyBytes, oddBodyText, oddKey, oddString, RawJson, toJsonText, toYamlText } from './fuzz-values.js';

/**
 * What the API fuzzer sends: the operations of the node's OpenAPI document, and for each one an
 * arbitrary of whole requests (method, path parameters, query, credentials, headers, body). A case
 * names credentials and fixtures symbolically; `materialize` turns it into bytes with the fixtures
 * of the moment (a fuzzed DELETE may have removed one, which is then made again).
 */

export interface OpenApiDoc {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

interface OpenApiParameter {
  in: 'path' | 'query' | 'header' | 'cookie';
  name: string;
  required?: boolean;
  schema?: JsonSchema;
}

interface OpenApiOperation {
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

export interface Operation {
  method: string;
  /** path template, e.g. /api/v1/labels/{uid} */
  path: string;
  pathParams: Array<{ name: string; schema: JsonSchema }>;
  query: Array<{ name: string; schema: JsonSchema; required: boolean }>;
  body: JsonSchema | undefined;
  /** statuses the document lists for this operation */
  documented: Set<number>;
}

/** Every path × method of the document. */
export function operationsOf(doc: OpenApiDoc): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete', 'head', 'options'].includes(method)) continue;
      const params = op.parameters ?? [];
      ops.push({
        method: method.toUpperCase(),
        path,
        pathParams: params.filter((p) => p.in === 'path').map((p) => ({ name: p.name, schema: p.schema ?? {} })),
        query: params.filter((p) => p.in === 'query').map((p) => ({ name: p.name, schema: p.schema ?? {}, required: p.required === true })),
        body: op.requestBody?.content?.['application/json']?.schema,
        documented: new Set(Object.keys(op.responses ?? {}).map(Number)),
      });
    }
  }
  return ops;
}

/** Credentials, by role; resolved against the fixtures when sent. */
export type AuthCase =
  | { kind: 'none' }
  | { kind: 'admin' }
  | { kind: 'user' }
  | { kind: 'user-bearer' }
  | { kind: 'other' }
  | { kind: 'wrong-token' }
  | { kind: 'raw'; value: string };

/** A path parameter: a live fixture, a value valid per the schema, or garbage (encoded or not). */
export type ParamCase = { kind: 'fixture'; key: FixtureKey } | { kind: 'value'; value: string } | { kind: 'raw'; value: string };

export type FixtureKey = 'labelUid' | 'otherLabelUid' | 'appUid' | 'otherAppUid' | 'userName' | 'otherName' | 'adminName';

export type BodyCase = { kind: 'none' } | { kind: 'value'; value: unknown; note: string } | { kind: 'bytes'; bytes: Buffer; label: string };

export interface RequestCase {
  method: string;
  params: Record<string, ParamCase>;
  /** query pieces: [key, value, percent-encode?] */
  query: Array<[string, string, boolean]>;
  auth: AuthCase;
  contentType: string | null;
  body: BodyCase;
  chunked: boolean;
  headers: Array<[string, string]>;
}

export interface Fixtures {
  adminToken: string;
  user: { name: string; token: string };
  other: { name: string; token: string };
  /** a user whose token id is used with a wrong secret */
  victim: { name: string; tokenId: string };
  labelUid: string;
  otherLabelUid: string;
  appUid: string;
  otherAppUid: string;
}

export interface Materialized {
  request: RawRequest;
  /** credentials that can fail are sent from a fresh loopback address, so failed logins never lock out the fixtures' own address */
  badCredentials: boolean;
}

const CONTENT_TYPES: Array<string | null> = [
  'application/json',
  'application/json; charset=utf-8',
  'APPLICATION/JSON',
  'application/json;charset=latin1',
  'application/yaml',
  'application/x-yaml',
  'text/yaml',
  'text/x-yaml; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/octet-stream',
  'application/merge-patch+json',
  'application/json, text/plain',
  '',
  ';',
  'json',
  null,
];

const ODD_HEADERS: Array<[string, string]> = [
  ['Accept', 'application/yaml'],
  ['Accept', 'text/event-stream'],
  ['Accept', '*/*;q=0'],
  ['Accept-Encoding', 'gzip, deflate, br'],
  ['X-Forwarded-For', '10.1.2.3'],
  ['Forwarded', 'for=10.1.2.3;proto=https'],
  ['X-Real-IP', '10.1.2.3'],
  ['Last-Event-ID', '999999999999999999999999'],
  ['Last-Event-ID', 'x'.repeat(5000)],
  ['Last-Event-ID', '-1'],
  ['Last-Event-ID', '1:2:3'],
  ['Expect', '100-continue'],
  ['Range', 'bytes=0-1'],
  ['Cookie', '__proto__=x; a=b'],
  ['Content-Encoding', 'gzip'],
  ['X-HTTP-Method-Override', 'DELETE'],
  ['Host', ''],
  ['Host', 'evil.example'],
  ['Connection', 'keep-alive, Upgrade'],
  ['Upgrade', 'websocket'],
  ['If-None-Match', '*'],
  ['X-Big', 'a'.repeat(20_000)],
  ['X-Latin1', '\u00ff\u00fe\u00e9'],
  ['X-Ctl', 'a\u0000b'],
  ['X-Ctl', 'a\u0007b'],
  ['Bad Name', 'x'],
  ['', 'x'],
  ['Content-Length', '-1'],
  // (a second Transfer-Encoding or a larger Content-Length would make the node wait for bytes that never come:
  // conflicting framing is in the malformed-HTTP cases, sent half-closed)
];

const ODD_METHODS = ['HEAD', 'PUT', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND', 'CONNECT', 'get', 'G ET', 'DELETE', 'POST', 'GET'];

const RAW_PARAMS = [
  '%',
  '%zz',
  '%E0%A4%A',
  '%C0%AF',
  '..',
  '%2e%2e',
  '.',
  'a%2Fb',
  'a/b',
  '%00',
  '%0d%0aX-Injected:%201',
  'x'.repeat(300),
  '%F0%9F%98%80',
  '00000000-0000-0000-0000-000000000000',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '{00000000-0000-0000-0000-000000000000}',
  'me',
  'this',
  '*',
  '',
  ' ',
  'a b',
  '?x=1',
  '#frag',
];

const ODD_QUERY_VALUES = [
  '',
  '-1',
  '0',
  '1e309',
  '1.5',
  '99999999999999999999',
  'NaN',
  '[]',
  'true',
  'latest',
  'x'.repeat(600),
  '%zz',
  '%00',
  '__proto__',
];

function fixturesFor(op: Operation, name: string): FixtureKey[] {
  if (name === 'name') return ['userName', 'otherName', 'adminName'];
  if (op.path.includes('/labels')) return ['labelUid', 'otherLabelUid', 'appUid'];
  return ['appUid', 'otherAppUid', 'labelUid'];
}

function paramArb(op: Operation, p: { name: string; schema: JsonSchema }, resolve: RefResolver): fc.Arbitrary<ParamCase> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...fixturesFor(op, p.name)).map((key): ParamCase => ({ kind: 'fixture', key })) },
    { weight: 2, arbitrary: validValue(p.schema, resolve).map((v): ParamCase => ({ kind: 'value', value: String(v) })) },
    { weight: 2, arbitrary: oddString.map((v): ParamCase => ({ kind: 'value', value: v })) },
    { weight: 2, arbitrary: fc.constantFrom(...RAW_PARAMS).map((v): ParamCase => ({ kind: 'raw', value: v })) },
  );
}

function queryArb(op: Operation, resolve: RefResolver): fc.Arbitrary<Array<[string, string, boolean]>> {
  const valid = fc.tuple(
    ...op.query.map((q) =>
      fc.option(
        validValue(q.schema, resolve).map((v): [string, string, boolean] => [q.name, String(v), true]),
        { nil: undefined, freq: 2 },
      ),
    ),
  );
  const names = [...op.query.map((q) => q.name), 'limit', 'cursor', 'format', 'prefix'];
  const odd = fc.array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...names, '__proto__', 'constructor[prototype][role]', 'limit[]', 'status[0]', 'a[b][c][d]'), oddKey),
      fc.oneof(fc.constantFrom(...ODD_QUERY_VALUES), oddString),
      fc.boolean(),
    ),
    { maxLength: 4 },
  );
  return fc
    .tuple(valid, fc.oneof({ weight: 2, arbitrary: fc.constant([] as Array<[string, string, boolean]>) }, { weight: 1, arbitrary: odd }))
    .map(([v, o]) => [...v.filter((x): x is [string, string, boolean] => x !== undefined), ...o]);
}

const authArb: fc.Arbitrary<AuthCase> = fc.oneof(
  { weight: 6, arbitrary: fc.constant<AuthCase>({ kind: 'user' }) },
  { weight: 1, arbitrary: fc.constant<AuthCase>({ kind: 'user-bearer' }) },
  { weight: 3, arbitrary: fc.constant<AuthCase>({ kind: 'none' }) },
  { weight: 2, arbitrary: fc.constant<AuthCase>({ kind: 'admin' }) },
  { weight: 1, arbitrary: fc.constant<AuthCase>({ kind: 'other' }) },
  { weight: 1, arbitrary: fc.constant<AuthCase>({ kind: 'wrong-token' }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(
        fc.constantFrom(
          'Basic',
          'Basic ',
          'Basic !!!',
          'Basic Og==',
          'Basic YWRtaW46',
          'Basic OnNlY3JldA==',
          'Bearer',
          'Bearer a.b',
          'Bearer .',
          'Digest x',
          'basic YTpi',
          'Bearer ' + 'x'.repeat(8000),
        ),
        fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => `Bearer ${s}`),
        fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
        fc.string({ maxLength: 40 }),
      )
      .map((value): AuthCase => ({ kind: 'raw', value })),
  },
);

/** Property values the fixture node knows (see FuzzNode): valid bodies name them most of the time. */
const NODE_HINTS: Hints = {
  label: fc.constantFrom('fuzz-label', 'fuzz-other-label'),
  driver: fc.constant('test'),
  cpu: fc.integer({ min: 1, max: 4 }),
  ram: fc.integer({ min: 1, max: 4 }),
  size: fc.integer({ min: 1, max: 20 }),
  version: fc.integer({ min: 1, max: 3 }),
  options: fc.constant({}),
  lifetime: fc.constantFrom('90s', '30m', '1h', '2d'),
  wait_timeout: fc.constantFrom('100ms', '5s', '1m'),
  network: fc.constantFrom('', 'nat'),
  disks: fc.constantFrom({}, { ws: { type: 'ext4', size: 1 } }, { data: { type: 'dir', size: 2, reuse: true } }),
  metadata: fc.dictionary(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,20}$/), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }),
};

/** Bodies for one operation: valid per its schema, broken in one place, not an object at all, odd text or bytes. */
function bodyArb(op: Operation, resolve: RefResolver, bodyLimit: number, focused = false): fc.Arbitrary<BodyCase> {
  const hostile = hostileValue(bodyLimit);
  const schema: JsonSchema = op.body ?? { type: 'object', properties: {}, additionalProperties: false };
  const withBody = op.body !== undefined;
  return fc.oneof(
    { weight: withBody ? 1 : 8, arbitrary: fc.constant<BodyCase>({ kind: 'none' }) },
    {
      weight: withBody ? 6 : 1,
      arbitrary: validValue(schema, resolve, 0, NODE_HINTS).map((value): BodyCase => ({
        kind: 'value',
        value,
        note: 'valid per the schema',
      })),
    },
    {
      weight: withBody ? 6 : 1,
      arbitrary: invalidValue(schema, hostile, oddKey, resolve, NODE_HINTS).map((value): BodyCase => ({
        kind: 'value',
        value,
        note: 'broken in one place',
      })),
    },
    {
      weight: withBody ? (focused ? 12 : 5) : 1,
      arbitrary: hostileInside(schema, fc.oneof(hostile, bulkyValue(bodyLimit)), resolve, NODE_HINTS).map((value): BodyCase => ({
        kind: 'value',
        value,
        note: 'valid, a hostile value in a free-form map',
      })),
    },
    { weight: 2, arbitrary: hostile.map((value): BodyCase => ({ kind: 'value', value, note: 'not an object' })) },
    { weight: 1, arbitrary: oddBodyText.map(({ text, label }): BodyCase => ({ kind: 'bytes', bytes: text, label })) },
    { weight: 1, arbitrary: oddBodyBytes.map(({ text, label }): BodyCase => ({ kind: 'bytes', bytes: text, label })) },
  );
}

/**
 * Whole requests for one operation. `focused`: well-formed requests from a signed-in caller (the
 * route's method, JSON or YAML, fixture path parameters mostly), so the bodies and query strings
 * reach the handler instead of stopping at authentication or content negotiation.
 */
export function requestArb(op: Operation, doc: OpenApiDoc, bodyLimit: number, focused = false): fc.Arbitrary<RequestCase> {
  const resolve = refResolver(doc);
  const params: Record<string, fc.Arbitrary<ParamCase>> = {};
  for (const p of op.pathParams) params[p.name] = paramArb(op, p, resolve);
  if (focused) {
    for (const p of op.pathParams) {
      params[p.name] = fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...fixturesFor(op, p.name)).map((key): ParamCase => ({ kind: 'fixture', key })) },
        { weight: 1, arbitrary: paramArb(op, p, resolve) },
      );
    }
    return fc.record({
      method: fc.constant(op.method),
      params: fc.record(params),
      query: queryArb(op, resolve),
      auth: fc.oneof(
        { weight: 4, arbitrary: fc.constant<AuthCase>({ kind: 'user' }) },
        { weight: 1, arbitrary: fc.constantFrom<AuthCase>({ kind: 'admin' }, { kind: 'other' }) },
      ),
      contentType: fc.constantFrom<string | null>('application/json', 'application/json; charset=utf-8', 'application/yaml'),
      body: bodyArb(op, resolve, bodyLimit, true),
      chunked: fc.constant(false),
      headers: fc.constant([] as Array<[string, string]>),
    });
  }
  return fc.record({
    method: fc.oneof({ weight: 12, arbitrary: fc.constant(op.method) }, { weight: 1, arbitrary: fc.constantFrom(...ODD_METHODS) }),
    params: fc.record(params),
    query: queryArb(op, resolve),
    auth: authArb,
    contentType: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom<string | null>('application/json', 'application/yaml') },
      { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
    ),
    body: bodyArb(op, resolve, bodyLimit),
    chunked: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    headers: fc.oneof(
      { weight: 5, arbitrary: fc.constant([] as Array<[string, string]>) },
      { weight: 2, arbitrary: fc.subarray(ODD_HEADERS, { minLength: 1, maxLength: 3 }) },
    ),
  });
}

/**
 * Percent-encodes the UTF-8 bytes of any string, lone surrogates included (as U+FFFD, where
 * encodeURIComponent would throw).
 */
export function pct(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_.!~*'()]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function fixtureValue(f: Fixtures, key: FixtureKey): string {
  switch (key) {
    case 'userName':
      return f.user.name;
    case 'otherName':
      return f.other.name;
    case 'adminName':
      return 'admin';
    default:
      return f[key];
  }
}

function encodeParam(p: ParamCase, f: Fixtures): string {
  if (p.kind === 'fixture') return pct(fixtureValue(f, p.key));
  if (p.kind === 'value') return pct(p.value);
  return p.value;
}

function authHeader(a: AuthCase, f: Fixtures): string | null {
  const basic = (name: string, token: string): string => `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;
  switch (a.kind) {
    case 'none':
      return null;
    case 'admin':
      return `Bearer ${f.adminToken}`;
    case 'user':
      return basic(f.user.name, f.user.token);
    case 'user-bearer':
      return `Bearer ${f.user.token}`;
    case 'other':
      return basic(f.other.name, f.other.token);
    case 'wrong-token':
      return basic(f.victim.name, `${f.victim.tokenId}.${'A'.repeat(43)}`);
    case 'raw':
      return a.value;
  }
}

/** The body's bytes for a content type: YAML text for YAML types, JSON text otherwise (form-encoded for forms). */
export function bodyBytes(body: BodyCase, contentType: string | null): Buffer | undefined {
  if (body.kind === 'none') return undefined;
  if (body.kind === 'bytes') return body.bytes;
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('yaml')) return Buffer.from(toYamlText(body.value), 'utf8');
  if (
    ct.startsWith('application/x-www-form-urlencoded') &&
    body.value !== null &&
    typeof body.value === 'object' &&
    !Array.isArray(body.value)
  ) {
    return Buffer.from(
      new URLSearchParams(
        Object.entries(body.value).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : toJsonText(v)]),
      ).toString(),
      'utf8',
    );
  }
  return Buffer.from(toJsonText(body.value), 'utf8');
}

/** The path with its parameters filled in and the query appended. */
export function targetOf(path: string, c: Pick<RequestCase, 'params' | 'query'>, f: Fixtures): string {
  let target = path.replace(/\{([^}]+)\}/g, (_m, name: string) => {
    const p = c.params[name];
    return p === undefined ? '' : encodeParam(p, f);
  });
  if (c.query.length > 0) {
    target += '?' + c.query.map(([k, v, enc]) => (enc ? `${pct(k)}=${pct(v)}` : `${k}=${v}`)).join('&');
  }
  return target;
}

/** Only bytes a request head can carry at all (Latin-1); anything else is replaced by "?". */
function latin1(s: string): string {
  return s.replace(/[\u0100-\uffff]/g, '?'); // every UTF-16 unit above Latin-1
}

export function materialize(op: Operation, c: RequestCase, f: Fixtures, host: string): Materialized {
  const headers: Array<[string, string]> = [['Host', host]];
  const auth = authHeader(c.auth, f);
  if (auth !== null) headers.push(['Authorization', latin1(auth)]);
  const body = bodyBytes(c.body, c.contentType);
  if (c.contentType !== null && (body !== undefined || c.contentType !== 'application/json'))
    headers.push(['Content-Type', latin1(c.contentType)]);
  for (const [k, v] of c.headers) headers.push([latin1(k), latin1(v)]);
  headers.push(['Connection', 'close']);
  const badCredentials = c.auth.kind === 'raw' || c.auth.kind === 'wrong-token';
  return {
    request: { method: latin1(c.method), target: latin1(targetOf(op.path, c, f)), headers, body, chunked: c.chunked },
    badCredentials,
  };
}

/** A short description of a case for failure reports (credentials by role, never their value; bodies cut). */
export function describeCase(op: Operation, c: RequestCase, f: Fixtures | null): string {
  const target = f === null ? op.path : targetOf(op.path, c, f);
  const body =
    c.body.kind === 'none'
      ? '(none)'
      : c.body.kind === 'bytes'
        ? `<${c.body.label}>`
        : `${c.body.note}: ${excerpt(toJsonText(c.body.value), 400)}`;
  const auth = c.auth.kind === 'raw' ? `raw ${JSON.stringify(excerpt(c.auth.value, 80))}` : c.auth.kind;
  const headers = c.headers.map(([k, v]) => `${k}: ${excerpt(v, 60)}`).join(' | ') || '(none)';
  return [
    `${c.method} ${excerpt(target, 300)}`,
    `  auth: ${auth}`,
    `  content-type: ${c.contentType === null ? '(none)' : JSON.stringify(c.contentType)}${c.chunked ? ', chunked' : ''}`,
    `  extra headers: ${headers}`,
    `  body: ${body}`,
  ].join('\n');
}

export function excerpt(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n)}… (${s.length} chars)`;
}

/** RawJson shows as its label in fast-check's own reports. */
Object.defineProperty(RawJson.prototype, fc.toStringMethod, {
  value(this: RawJson) {
    return `<${this.label}>`;
  },
});
