// Bounded input, attacked on a real `shoal serve` process as an ordinary user: metadata too deep,
// too wide, with huge keys or too large on labels and applications; JSON and YAML bodies nested
// thousands of levels (and YAML alias bombs) on every route that takes a body; metadata stored
// deep by an older node, then read back in every Meta API format and through the API. Every
// answer is a 4xx (or a clear 500 for the unrenderable stored data), never a crash.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Sqlite from 'better-sqlite3';
import { ShoalClient } from '../../src/client/index.js';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';
import { metaGet, waitForState } from '../helpers/wait.js';

const CONFIG = { capacity: { cpu: 8, ram: 8 }, drivers: { test: { cpu: 8, ram: 8 } } };

interface Answer {
  status: number;
  body: string;
}

function send(
  node: NodeProcess,
  method: string,
  path: string,
  token: string,
  body: string | undefined,
  type = 'application/json',
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, node.apiUrl);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) {
      headers['content-type'] = type;
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request(url, { method, headers, timeout: 20_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.end(body);
  });
}

function errorOf(a: Answer): { code: string; message: string } {
  return (JSON.parse(a.body) as { error: { code: string; message: string } }).error;
}

function alive(node: NodeProcess): void {
  assert.equal(node.proc.exitCode, null, `the node exited:\n${node.output().slice(-3000)}`);
  assert.equal(node.proc.signalCode, null);
}

/** `{"K":{"K":…1…}}` as text, n levels deep (built as text: no recursion in the test either) */
const deepObject = (n: number, key = 'K'): string => `${`{"${key}":`.repeat(n)}1${'}'.repeat(n)}`;

function label(name: string, metadata: string): string {
  return `{"name":"${name}","definitions":[{"driver":"test","options":{},"requirements":{"cpu":1,"ram":1}}],"metadata":${metadata}}`;
}

describe('bounded input on a real node', { timeout: 240_000 }, () => {
  let node: NodeProcess;
  let user: string;

  before(async () => {
    node = await startNodeProcess({ config: CONFIG });
    const admin = new ShoalClient({ url: node.apiUrl, token: node.token });
    user = (await admin.createUser({ name: 'mallory' })).token;
    const client = new ShoalClient({ url: node.apiUrl, token: user });
    await client.createLabel({ name: 'plain', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
  });
  after(async () => {
    await node?.cleanup();
  });

  it('metadata over each limit is refused at submission with 400 naming the limit and the value', async () => {
    const wide = `{${Array.from({ length: 1001 }, (_, i) => `"k${i}":${i}`).join(',')}}`;
    const wideArray = `{"A":[${Array.from({ length: 1001 }, (_, i) => i).join(',')}]}`;
    const hugeKey = `{"A":{"${'k'.repeat(200)}":1}}`;
    const hugeTopKey = `{"${'K'.repeat(200)}":1}`;
    const big = `{"A":"${'x'.repeat(70_000)}"}`;
    const cases: Array<[string, string, RegExp]> = [
      ['17 levels', `{"A":${deepObject(16)}}`, /nested deeper than the limit of 16 levels.*limits\.metadata\.depth/],
      ['1001 keys', wide, /more than the limit of 1000 keys.*limits\.metadata\.keys/],
      ['1001 array items', wideArray, /more than the limit of 1000 keys and array items/],
      ['a 200-character nested key', hugeKey, /200 characters long, over the limit of 128.*limits\.metadata\.key_length/],
      ['a 200-character key', hugeTopKey, /200 characters long, over the limit of 128/],
      ['70 kB', big, /is 70008 bytes as JSON, over the limit of 65536.*limits\.metadata\.bytes/],
    ];
    for (const [what, metadata, message] of cases) {
      const l = await send(node, 'POST', '/api/v1/labels', user, label('bounded', metadata));
      assert.equal(l.status, 400, `label with ${what}: ${l.body.slice(0, 300)}`);
      assert.equal(errorOf(l).code, 'INVALID');
      assert.match(errorOf(l).message, message, what);
      const a = await send(node, 'POST', '/api/v1/applications', user, `{"label":"plain","metadata":${metadata}}`);
      assert.equal(a.status, 400, `application with ${what}: ${a.body.slice(0, 300)}`);
      assert.match(errorOf(a).message, message, what);
    }
    // the same in YAML
    const yaml = `label: plain\nmetadata:\n${Array.from({ length: 17 }, (_, i) => `${'  '.repeat(i + 1)}L${i}:`).join('\n')} 1\n`;
    const y = await send(node, 'POST', '/api/v1/applications', user, yaml, 'application/yaml');
    assert.equal(y.status, 400, y.body);
    assert.match(errorOf(y).message, /nested deeper than the limit of 16 levels/);
    // at the limits it is accepted
    const ok = await send(node, 'POST', '/api/v1/applications', user, `{"label":"plain","metadata":{"A":${deepObject(15)}}}`);
    assert.equal(ok.status, 201, ok.body);
    alive(node);
  });

  it('every route that takes a body refuses JSON and YAML nested thousands deep, and alias bombs, with 400 before parsing', async () => {
    const doc = JSON.parse((await send(node, 'GET', '/api/openapi.json', user, undefined)).body) as {
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    const routes: Array<[string, string]> = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (op.requestBody === undefined) continue;
        const concrete = path.replace(/\{uid\}/g, '00000000-0000-4000-8000-000000000000').replace(/\{[a-z_]+\}/g, 'x');
        routes.push([method.toUpperCase(), concrete]);
      }
    }
    assert.ok(routes.length >= 4, `routes with a body: ${routes.map((r) => r.join(' ')).join(', ')}`);
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
      .concat(
        Array.from(
          { length: 9 },
          (_, i) =>
            `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9)
              .fill(`*${String.fromCharCode(97 + i)}`)
              .join(',')}]`,
        ),
      )
      .join('\n');
    const bodies: Array<[string, string, string]> = [
      ['JSON arrays 5,000 deep', '['.repeat(5000) + ']'.repeat(5000), 'application/json'],
      ['JSON objects 5,000 deep in metadata', `{"label":"plain","metadata":{"A":${deepObject(5000)}}}`, 'application/json'],
      ['JSON arrays 400,000 deep', '['.repeat(400_000) + ']'.repeat(400_000), 'application/json'],
      ['YAML flow 5,000 deep', '['.repeat(5000) + ']'.repeat(5000), 'application/yaml'],
      ['YAML flow 400,000 deep', `a: ${'{b: '.repeat(200_000)}1${'}'.repeat(200_000)}`, 'application/yaml'],
      ['YAML compact sequences 100,000 deep', `${'- '.repeat(100_000)}x`, 'application/yaml'],
      ['YAML block mappings 300 deep', Array.from({ length: 300 }, (_, i) => `${' '.repeat(i)}k:`).join('\n') + ' 1', 'text/yaml'],
      ['YAML alias bomb', bomb, 'application/yaml'],
    ];
    for (const [method, path] of routes) {
      for (const [what, body, type] of bodies) {
        const r = await send(node, method, path, user, body, type);
        assert.equal(r.status, 400, `${method} ${path} with ${what}: ${r.status} ${r.body.slice(0, 300)}`);
        const e = errorOf(r);
        assert.equal(e.code, 'MALFORMED_BODY', `${method} ${path} with ${what}`);
        if (what !== 'YAML alias bomb')
          assert.match(e.message, /nested deeper than the limit of 64 levels/, `${method} ${path} with ${what}`);
        else assert.match(e.message, /alias/i);
      }
    }
    alive(node);
  });

  it('metadata stored deep by an older node: every Meta API format and the API answer a clear error, the node lives', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shoal-deep-'));
    let old: NodeProcess | undefined = await startNodeProcess({ dataDir, config: CONFIG });
    try {
      const client = new ShoalClient({ url: old.apiUrl, token: old.token });
      await client.createLabel({ name: 'deep', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }] });
      const app = await client.createApplication({ label: 'deep', metadata: { DEEP: 'shallow for now', OK: 'yes' } });
      await waitForState(client, app.uid, ['ALLOCATED']);
      const ip = (await client.getResource(app.uid)).ipaddr;
      await old.stop();
      // what a node without limits could have stored: 3,000 levels
      const db = new Sqlite(join(dataDir, 'shoal.db'));
      const deep = `{"DEEP":${deepObject(3000)},"OK":"yes"}`;
      db.prepare('UPDATE applications SET metadata = ? WHERE uid = ?').run(deep, app.uid);
      db.prepare('UPDATE resources SET metadata = ? WHERE application_uid = ?').run(deep, app.uid);
      db.close();

      old = await startNodeProcess({ dataDir, config: CONFIG });
      const again = new ShoalClient({ url: old.apiUrl, token: old.token });
      assert.equal((await again.getState(app.uid)).status, 'ALLOCATED');
      for (const q of ['', '?format=json', '?format=env', '?format=yaml', '?format=yaml&prefix=DE', '?format=env&prefix=DEEP']) {
        const r = await metaGet(old.metaHost, old.metaPort, ip, `/meta/v1/data${q}`);
        assert.equal(r.status, 500, `${q}: ${r.body.slice(0, 200)}`);
        assert.match(r.body, /nested deeper than 100 levels/, q);
        alive(old);
      }
      // a prefix that leaves out the deep key renders
      const ok = await metaGet(old.metaHost, old.metaPort, ip, '/meta/v1/data?format=yaml&prefix=OK');
      assert.equal(ok.status, 200, ok.body);
      assert.equal(ok.body, 'OK: yes\n');
      for (const path of [`/api/v1/applications/${app.uid}`, '/api/v1/applications']) {
        const r = await send(old, 'GET', path, old.token, undefined);
        assert.equal(r.status, 500, `${path}: ${r.body.slice(0, 200)}`);
        assert.match(errorOf(r).message, /nested deeper than 100 levels/);
      }
      assert.equal((await send(old, 'GET', '/health', old.token, undefined)).status, 200);
      alive(old);
      assert.doesNotMatch(old.output(), /Maximum call stack|unhandled error/);
    } finally {
      await old?.cleanup();
      await rm(dataDir, { recursive: true, force: true });
    }
    alive(node);
  });
});
