import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import { sendRaw, type RawRequest, type RawResponse } from '../helpers/raw-http.js';
import { answerProblems, requestIdOf } from './fuzz-check.js';
import { FUZZ_BODY_LIMIT, FuzzNode } from './fuzz-node.js';
import {
  describeCase,
  excerpt,
  materialize,
  pct,
  operationsOf,
  requestArb,
  type OpenApiDoc,
  type Operation,
  type RequestCase,
} from './fuzz-requests.js';
import { deepValue, hugeString, oddKey, oddString, toJsonText, wideValue } from './fuzz-values.js';

/**
 * Property-based fuzzing of every route of a real `shoal serve` process, driven by the node's own
 * OpenAPI document: for each path × method, requests with bodies valid per the route's schema and
 * broken ones (wrong types, missing and extra fields, deep, wide and huge values, odd strings and
 * keys), odd query strings, path parameters and headers, as the ordinary user, another user, the
 * admin, with bad credentials and with none. Plus routes the document does not list, and the Meta
 * API on its own listener. Every answer must be < 500 and every 4xx in the one error shape; the
 * node must be alive and answer /health after each route.
 *
 * SHOAL_FUZZ_SEED (default fixed) and SHOAL_FUZZ_RUNS (examples per route) widen the search;
 * SHOAL_FUZZ_TLS=1 runs the same against the HTTPS listener.
 */

const SEED = Number(process.env.SHOAL_FUZZ_SEED ?? 7_1729);
const RUNS = Number(process.env.SHOAL_FUZZ_RUNS ?? 80);
/** SHOAL_FUZZ_STATS=1: print how often each status came back, per route (is the fuzzer reaching the handlers?) */
const STATS = process.env.SHOAL_FUZZ_STATS === '1';
const statusCounts = new Map<number, number>();
function countStatus(status: number): void {
  statusCounts.set(status, (statusCounts.get(status) ?? 0) + 1);
}
const TLS = process.env.SHOAL_FUZZ_TLS === '1';
/** the Meta API examples each allocate a resource: fewer of them */
const META_RUNS = Math.max(1, Math.ceil(RUNS / 4));
/** a failing route gets this long to shrink its counterexample */
const SHRINK_MS = 20_000;

class CaseFailure extends Error {}

function report(what: string, res: RawResponse | null, problems: string[], node: FuzzNode): string {
  const lines = [what];
  if (res !== null) {
    lines.push(`  answer: ${res.status} ${res.headers['content-type'] ?? ''} ${JSON.stringify(excerpt(res.body.toString('utf8'), 300))}`);
    const id = requestIdOf(res);
    if (id !== null) lines.push(`  node log for request ${id}:\n${node.logLines(`"${id}"`) || '(none)'}`);
  }
  lines.push(...problems.map((p) => `  problem: ${p}`));
  if (!node.alive()) lines.push(`  the node process ended (${node.exitDescription()}); its last output:\n${node.tail()}`);
  return lines.join('\n');
}

/**
 * Runs `numRuns` examples of `arb` through `check`, then asserts the node still lives and answers
 * /health. When a request kills the node, the example that did it is kept as the counterexample
 * (later examples pass without running, so shrinking cannot blame an innocent request) and a fresh
 * node is started for the next route.
 */
/** One seed per route, derived from SEED, so routes do not all see the same sequence of shapes. */
function routeSeed(name: string): number {
  let h = SEED | 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619);
  return h >>> 0;
}

async function fuzzRoute<C>(
  node: FuzzNode,
  name: string,
  arb: fc.Arbitrary<C>,
  numRuns: number,
  check: (c: C) => Promise<void>,
): Promise<void> {
  if (!(await node.healthy())) await node.restart();
  else await node.ensureFixtures();
  let died = false;
  const property = fc.asyncProperty(arb, async (c) => {
    if (died) return;
    try {
      await check(c);
    } catch (err) {
      if (!node.alive()) died = true;
      throw err;
    }
  });
  const details = await fc.check(property, {
    seed: routeSeed(name),
    numRuns,
    interruptAfterTimeLimit: SHRINK_MS + numRuns * 1000,
    markInterruptAsFailure: false,
  });
  // fast-check's own report prints the whole counterexample (megabytes for a huge body): ours cuts it
  const failure = details.failed
    ? new Error(
        `a request failed after ${details.numRuns} example(s), shrunk ${details.numShrinks} time(s) ` +
          `(replay: SHOAL_FUZZ_SEED=${SEED}, route seed ${details.seed}, fast-check path ${excerpt(details.counterexamplePath ?? '', 60)}):\n` +
          (details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)),
      )
    : null;
  const alive = node.alive();
  const healthy = await node.healthy();
  if (!healthy) {
    const tail = node.tail(60);
    await node.restart();
    const cause = failure instanceof Error ? `\n${failure.message}` : '';
    assert.fail(`the node ${alive ? 'stopped answering /health' : 'process exited'} during this route; its last output:\n${tail}${cause}`);
  }
  if (failure !== null) throw failure;
  assert.ok(node.alive(), 'the node process is alive after the route');
}

async function checkApiCase(node: FuzzNode, op: Operation, c: RequestCase): Promise<void> {
  const fixtures = node.fixtures;
  assert.ok(fixtures !== null);
  const m = materialize(op, c, fixtures, node.host);
  let res: RawResponse;
  try {
    res = await node.send(m.request, { localAddress: m.badCredentials ? node.nextBadAddress() : undefined });
  } catch (err) {
    // Node's HTTP server closes a CONNECT it has no tunnel for without an answer: allowed, as long as the node lives
    if (c.method === 'CONNECT' && node.alive()) return;
    // a body over the limit may be cut off (the node answers 413 and closes while we still write): allowed
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'EPIPE' || code === 'ECONNRESET') && (m.request.body?.length ?? 0) > FUZZ_BODY_LIMIT && node.alive()) return;
    throw new CaseFailure(report(describeCase(op, c, fixtures), null, [`no answer: ${(err as Error).message}`], node));
  }
  countStatus(res.status);
  const problems = answerProblems(res, { head: c.method === 'HEAD', allow503: op.documented.has(503) });
  if (problems.length > 0) throw new CaseFailure(report(describeCase(op, c, fixtures), res, problems, node));
}

test('fuzz: every route of the node OpenAPI document, as users, admin and nobody, answers < 500 in the one error shape', async (t) => {
  const node = await FuzzNode.start(TLS);
  try {
    const docAnswer = await node.api('GET', '/api/openapi.json', null);
    assert.equal(docAnswer.status, 200);
    const doc = docAnswer.json as OpenApiDoc;
    const ops = operationsOf(doc);
    const names = ops.map((o) => `${o.method} ${o.path}`);
    // the document is the source of the routes: make sure it is the whole API, not a stub
    for (const must of [
      'GET /health',
      'GET /metrics',
      'POST /api/v1/users',
      'POST /api/v1/labels',
      'POST /api/v1/applications',
      'GET /api/v1/events',
      'POST /api/v1/applications/{uid}/tasks',
    ]) {
      assert.ok(names.includes(must), `the OpenAPI document lists ${must}`);
    }

    for (const op of ops) {
      await t.test(`${op.method} ${op.path}`, async (st) => {
        statusCounts.clear();
        if (STATS)
          st.after(() =>
            st.diagnostic(
              `statuses: ${[...statusCounts]
                .sort((a, b) => a[0] - b[0])
                .map(([k, v]) => `${k}×${v}`)
                .join(' ')}`,
            ),
          );
        // half the examples well-formed from a signed-in caller (they reach the handler), half anything at all
        const arb = fc.oneof(requestArb(op, doc, FUZZ_BODY_LIMIT, true), requestArb(op, doc, FUZZ_BODY_LIMIT));
        await fuzzRoute(node, `${op.method} ${op.path}`, arb, RUNS, (c) => checkApiCase(node, op, c));
      });
    }

    await t.test('routes the document does not list', async () => {
      const segment = fc.oneof(
        fc.constantFrom(
          'api',
          'v1',
          'v2',
          'users',
          'labels',
          'applications',
          'meta',
          'docs',
          'openapi.json',
          '..',
          '.',
          '%2e%2e',
          '%',
          '%zz',
          '',
          '~',
          'health',
        ),
        oddString.map((s) => pct(s)),
      );
      const unknown: Operation = { method: 'GET', path: '', pathParams: [], query: [], body: undefined, documented: new Set() };
      const arb = fc.record({
        path: fc.array(segment, { minLength: 1, maxLength: 6 }).map((s) => `/${s.join('/')}`),
        c: requestArb(unknown, doc, FUZZ_BODY_LIMIT),
        method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'),
      });
      await fuzzRoute(node, 'unlisted', arb, RUNS, ({ path, c, method }) =>
        checkApiCase(node, { ...unknown, path, method }, { ...c, method }),
      );
    });

    await t.test(
      'GET /meta/v1/data on the Meta listener (metadata deep, wide, huge, odd; every format; as the resource and as others)',
      async () => {
        await fuzzRoute(node, 'meta', metaArb, META_RUNS, (c) => checkMetaCase(node, c));
      },
    );

    await t.test('Meta listener: malformed and oversized requests', async () => {
      await checkAll(node, MALFORMED, (c) => checkMalformed(node, c, node.node.metaPort));
      await fuzzRoute(node, 'meta-malformed', malformedArb, RUNS, (c) => checkMalformed(node, c, node.node.metaPort));
    });

    await t.test('API listener: malformed and oversized requests', async () => {
      await checkAll(node, MALFORMED, (c) => checkMalformed(node, c, node.node.apiPort));
      await fuzzRoute(node, 'api-malformed', malformedArb, RUNS, (c) => checkMalformed(node, c, node.node.apiPort));
    });

    assert.ok(node.alive(), 'the node process is alive at the end');
    assert.ok(await node.healthy(), 'the node answers /health at the end');
  } finally {
    await node.stop();
  }
});

// ---------------------------------------------------------------- Meta API

const metaKey = fc.oneof({ weight: 5, arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,30}$/) }, { weight: 1, arbitrary: oddKey });
const metaValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 3, arbitrary: oddString },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: wideValue },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 60_000 }).map((n) => hugeString(n, 'é\n=')) },
);

interface MetaRequest {
  from: 'resource' | 'node' | 'elsewhere';
  method: string;
  path: string;
  query: Array<[string, string]>;
}

interface MetaCase {
  metadata: Record<string, unknown>;
  requests: MetaRequest[];
}

const metaRequestArb: fc.Arbitrary<MetaRequest> = fc.record({
  from: fc.oneof(
    { weight: 6, arbitrary: fc.constant('resource' as const) },
    { weight: 1, arbitrary: fc.constantFrom('node' as const, 'elsewhere' as const) },
  ),
  method: fc.oneof(
    { weight: 8, arbitrary: fc.constant('GET') },
    { weight: 1, arbitrary: fc.constantFrom('HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS') },
  ),
  path: fc.oneof(
    { weight: 8, arbitrary: fc.constant('/meta/v1/data') },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '/meta/v1/data/',
        '/meta/v1/data/../data',
        '/META/v1/data',
        '/meta/v1/data%00',
        '//meta/v1/data',
        '/meta/v1/',
        '/',
        '*',
      ),
    },
  ),
  query: fc.array(
    fc.tuple(
      fc.oneof({ weight: 4, arbitrary: fc.constantFrom('format', 'prefix') }, { weight: 1, arbitrary: oddKey }),
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom('json', 'env', 'yaml', 'JSON', '', 'xml') },
        { weight: 2, arbitrary: oddString.filter((v) => v.length <= 200) },
        { weight: 1, arbitrary: metaKey },
      ),
    ),
    { maxLength: 3 },
  ),
});

const metaArb: fc.Arbitrary<MetaCase> = fc.record({
  metadata: fc.dictionary(metaKey, metaValue, { maxKeys: 6 }),
  requests: fc.array(metaRequestArb, { minLength: 3, maxLength: 8 }),
});

function metaTarget(r: MetaRequest): string {
  if (r.query.length === 0) return r.path;
  return `${r.path}?${r.query.map(([k, v]) => `${pct(k)}=${pct(v)}`).join('&')}`;
}

function describeMeta(c: MetaCase, r: MetaRequest | null, created: number): string {
  const keys = Object.keys(c.metadata).map((k) => excerpt(k, 40));
  const lines = [
    `application metadata (POST /api/v1/applications answered ${created}): keys ${JSON.stringify(keys)}, ${excerpt(toJsonText(c.metadata), 400)}`,
  ];
  if (r !== null) lines.push(`${r.method} ${excerpt(metaTarget(r), 300)} on the Meta listener, from ${r.from}`);
  return lines.join('\n');
}

async function checkMetaCase(node: FuzzNode, c: MetaCase): Promise<void> {
  const f = node.fixtures;
  assert.ok(f !== null);
  const label = await node.api('GET', `/api/v1/labels/${f.labelUid}`, f.user.token);
  const labelName = String((label.json as { name?: unknown }).name);
  const createBody = Buffer.from(toJsonText({ label: labelName, metadata: c.metadata }), 'utf8');
  const createReq: RawRequest = {
    method: 'POST',
    target: '/api/v1/applications',
    headers: [
      ['Host', node.host],
      ['Authorization', `Bearer ${f.user.token}`],
      ['Content-Type', 'application/json'],
      ['Connection', 'close'],
    ],
    body: createBody,
  };
  const created = await node.send(createReq);
  const createProblems = answerProblems(created, { head: false, allow503: false });
  if (createProblems.length > 0) throw new CaseFailure(report(describeMeta(c, null, created.status), created, createProblems, node));
  let ip: string | null = null;
  let uid: string | null = null;
  if (created.status === 201) {
    uid = String((JSON.parse(created.body.toString('utf8')) as { uid: string }).uid);
    ip = await node.waitAllocated(uid, f.user.token);
  }
  try {
    for (const r of c.requests) {
      const from = r.from === 'resource' && ip !== null ? ip : r.from === 'node' ? '127.0.0.1' : node.nextBadAddress();
      const asResource = from === ip;
      let res: RawResponse;
      try {
        res = await node.send(
          {
            method: r.method,
            target: metaTarget(r),
            headers: [
              ['Host', `127.0.0.1:${node.node.metaPort}`],
              ['Connection', 'close'],
            ],
          },
          { port: node.node.metaPort, localAddress: from },
        );
      } catch (err) {
        throw new CaseFailure(report(describeMeta(c, r, created.status), null, [`no answer: ${(err as Error).message}`], node));
      }
      const head = r.method === 'HEAD';
      const problems = answerProblems(res, { head, allow503: false });
      if (!asResource && res.status !== 404 && res.status !== 400)
        problems.push(`a caller that is no resource got ${res.status} (only 404 is allowed)`);
      if (res.status === 200 && !head) {
        const format = new URLSearchParams(metaTarget(r).split('?')[1] ?? '').get('format') ?? 'json';
        const text = res.body.toString('utf8');
        try {
          if (format === 'yaml') parseYaml(text, { maxAliasCount: -1 });
          if (format === 'json') JSON.parse(text);
        } catch (err) {
          problems.push(`format=${format} answered 200 with a body that does not parse: ${(err as Error).message}`);
        }
      }
      if (problems.length > 0) throw new CaseFailure(report(describeMeta(c, r, created.status), res, problems, node));
    }
  } finally {
    if (uid !== null && node.alive()) await node.api('POST', `/api/v1/applications/${uid}/deallocate`, f.user.token).catch(() => undefined);
  }
}

// ---------------------------------------------------------------- malformed HTTP

/** Requests an HTTP parser must refuse: bad request lines, bad header bytes, oversized heads, conflicting framing. */
interface MalformedCase {
  head: string;
  label: string;
  /** well-formed, only large: any answer below 500 will do */
  valid?: boolean;
  /** the body is cut short: end the connection only after the node's first answer (is there a second?) */
  endAfterAnswer?: boolean;
}

/** Every one of these is sent on every run; the sized ones below are drawn by fast-check. */
const MALFORMED: MalformedCase[] = [
  { head: 'get /health HTTP/1.1\r\nHost: x\r\n\r\n', label: 'lowercase method' },
  { head: 'G ET /health HTTP/1.1\r\nHost: x\r\n\r\n', label: 'space in method' },
  { head: 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', label: 'space in target' },
  { head: 'GET /health HTTP/9.9\r\nHost: x\r\n\r\n', label: 'unknown HTTP version' },
  { head: 'GET /health\r\nHost: x\r\n\r\n', label: 'no version (HTTP/0.9 style)', valid: true },
  { head: 'GET /health HTTP/1.1\r\nHost: x\r\nX-No-Colon\r\n\r\n', label: 'header without colon' },
  { head: 'GET /health HTTP/1.1\r\n\r\n', label: 'HTTP/1.1 without Host' },
  { head: 'GET /health HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n', label: 'NUL in a header value' },
  { head: 'GET /health HTTP/1.1\r\nHost: x\r\n X-Folded: y\r\n\r\n', label: 'obsolete line folding' },
  { head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef', label: 'two Content-Length' },
  { head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{}', label: 'body shorter than Content-Length' },
  {
    head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{}',
    label: 'body shorter than Content-Length, connection ended after the (401) answer',
    endAfterAnswer: true,
  },
  {
    head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    label: 'Content-Length and chunked',
  },
  { head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', label: 'bad chunk size' },
  { head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', label: 'negative Content-Length' },
  { head: 'POST /api/v1/labels HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n', label: 'huge Content-Length' },
  { head: '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', label: 'a TLS hello on plain HTTP' },
  { head: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', label: 'HTTP/2 preface' },
  { head: '\r\n\r\n\r\n', label: 'empty lines' },
];

const malformedArb: fc.Arbitrary<MalformedCase> = fc.oneof(
  fc
    .integer({ min: 17_000, max: 70_000 })
    .map((n) => ({ head: `GET /${'a'.repeat(n)} HTTP/1.1\r\nHost: x\r\n\r\n`, label: `target of ${n} bytes` })),
  fc
    .integer({ min: 17_000, max: 70_000 })
    .map((n) => ({ head: `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(n)}\r\n\r\n`, label: `header of ${n} bytes` })),
  fc.integer({ min: 200, max: 3_000 }).map((n) => ({
    head: `GET /health HTTP/1.1\r\nHost: x\r\n${Array.from({ length: n }, (_, i) => `X-${i}: v`).join('\r\n')}\r\n\r\n`,
    label: `${n} headers`,
    valid: true,
  })),
);

/** Runs every case (no early stop), then fails with all the problems found; the node must live through them. */
async function checkAll<C>(node: FuzzNode, cases: C[], check: (c: C) => Promise<void>): Promise<void> {
  if (!(await node.healthy())) await node.restart();
  const failures: string[] = [];
  for (const c of cases) {
    try {
      await check(c);
    } catch (err) {
      failures.push((err as Error).message);
    }
  }
  assert.ok(await node.healthy(), `the node answers /health after the fixed cases; its last output:\n${node.tail()}`);
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} fixed cases failed:\n${failures.join('\n')}`);
}

async function checkMalformed(node: FuzzNode, c: MalformedCase, port: number): Promise<void> {
  if (node.tls && port === node.node.apiPort) return; // the TLS listener refuses these before HTTP starts
  let res: RawResponse;
  try {
    res = await sendBytes(port, Buffer.from(c.head, 'latin1'), c.endAfterAnswer === true);
  } catch (err) {
    // a parser may also just close the connection: allowed, as long as the node lives on
    if (!node.alive()) throw new CaseFailure(report(`${c.label} (port ${port})`, null, [`no answer: ${(err as Error).message}`], node));
    return;
  }
  const problems = answerProblems(res, { head: false, allow503: false });
  if (res.status < 400 && c.valid !== true) problems.push(`a malformed request was answered ${res.status}`);

  if (problems.length > 0) throw new CaseFailure(report(`${c.label} (port ${port})`, res, problems, node));
}

function sendBytes(port: number, bytes: Buffer, endAfterAnswer: boolean): Promise<RawResponse> {
  return sendRaw(
    { host: '127.0.0.1', port, timeoutMs: 15_000, halfClose: !endAfterAnswer, endAfterAnswer },
    { method: '', target: '', headers: [], bodyOnly: bytes },
  );
}
