import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bearer, createUser, startApiNode, testLabelBody, type ApiTestNode } from './testing/api-harness.js';

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('API: bad input gets a 4xx naming the problem and changes nothing', () => {
  let t: ApiTestNode;
  let token: string;

  before(async () => {
    t = await startApiNode({ api: { bodyLimit: 64 * 1024 } });
    token = await createUser(t, 'alice');
  });
  after(async () => {
    await t?.close();
  });

  async function post(url: string, payload: string | object, contentType = 'application/json') {
    const r = await t.app.inject({
      method: 'POST',
      url,
      headers: { ...bearer(token), 'content-type': contentType },
      payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
    });
    return { status: r.statusCode, body: r.json<ErrorBody>(), headers: r.headers };
  }

  /** nothing was stored and nothing was allocated */
  async function assertNothingLeft(): Promise<void> {
    for (const url of ['/api/v1/labels', '/api/v1/applications', '/api/v1/resources']) {
      const r = await t.app.inject({ url, headers: bearer(t.adminToken) });
      assert.equal(r.statusCode, 200, url);
      assert.deepEqual(r.json<{ items: unknown[] }>().items, [], `${url} is not empty`);
    }
    assert.deepEqual(await t.node.driver.listResources(), [], 'the driver holds no resource');
  }

  it('malformed JSON → 400 MALFORMED_BODY with line and column', async () => {
    const r = await post('/api/v1/labels', '{\n  "name": "x",\n  "definitions": [\n}');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'MALFORMED_BODY');
    assert.match(r.body.error.message, /not valid JSON: unexpected '\}' at line 4, column 1/);
    assert.deepEqual(r.body.error.details, { format: 'json', line: 4, column: 1 });
    await assertNothingLeft();
  });

  it('malformed YAML → 400 MALFORMED_BODY with line and column', async () => {
    const r = await post(
      '/api/v1/labels',
      'name: x\ndefinitions:\n  - driver: test\n    requirements: {cpu: 1, ram: 1\n',
      'application/yaml',
    );
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'MALFORMED_BODY');
    assert.match(r.body.error.message, /not valid YAML: .* at line \d+, column \d+/);
    assert.equal(r.body.error.details?.format, 'yaml');
    await assertNothingLeft();
  });

  it('missing, mistyped and unknown fields → 400 INVALID naming the field', async () => {
    const base = testLabelBody('busybox');
    const cases: Array<[object, string]> = [
      [{ ...base, definitions: [{ driver: 'test', requirements: { ram: 1 } }] }, 'body/definitions/0/requirements/cpu is required'],
      [
        { ...base, definitions: [{ driver: 'test', requirements: { cpu: 'two', ram: 1 } }] },
        'body/definitions/0/requirements/cpu must be an integer',
      ],
      [
        { ...base, definitions: [{ driver: 'test', requirements: { cpu: 0, ram: 1 } }] },
        'body/definitions/0/requirements/cpu must be >= 1',
      ],
      [{ ...base, lifetme: '2h' }, 'body/lifetme is not a known field (remove it or check its spelling)'],
      [{ definitions: base.definitions }, 'body/name is required'],
      [{ ...base, name: 'Busy Box' }, 'body/name is not valid: lowercase letters, digits, ".", "_", "-"'],
    ];
    for (const [payload, message] of cases) {
      const r = await post('/api/v1/labels', payload);
      assert.equal(r.status, 400, message);
      assert.equal(r.body.error.code, 'INVALID');
      assert.equal(r.body.error.message, message);
    }
    const app = await post('/api/v1/applications', { version: 1 });
    assert.equal(app.status, 400);
    assert.equal(app.body.error.message, 'body/label is required');
    const empty = await post('/api/v1/applications', '');
    assert.equal(empty.status, 400);
    assert.equal(empty.body.error.message, 'body is required: send a JSON or YAML object');
    await assertNothingLeft();
  });

  it('an unknown driver → 400 UNKNOWN_DRIVER; a definition the driver rejects → 400 INVALID_DEFINITION naming the field', async () => {
    const unknown = await post('/api/v1/labels', {
      ...testLabelBody('busybox'),
      definitions: [{ driver: 'vmware', requirements: { cpu: 1, ram: 1 } }],
    });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.code, 'UNKNOWN_DRIVER');
    assert.match(unknown.body.error.message, /vmware/);

    const bad = await post(
      '/api/v1/labels',
      'name: busybox\ndefinitions:\n  - driver: test\n    requirements: {cpu: 1, ram: 1}\n  - driver: test\n    requirements:\n      cpu: 1\n      ram: 1\n      disks: {ws: {type: ntfs, size: 1}}\n',
      'application/yaml',
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.code, 'INVALID_DEFINITION');
    assert.match(bad.body.error.message, /requirements\.disks\.ws\.type/);
    assert.match(bad.body.error.message, /ntfs/);
    await assertNothingLeft();
  });

  it('an oversize body → 413 PAYLOAD_TOO_LARGE in the error shape', async () => {
    const big = { ...testLabelBody('busybox', { BIG: 'x'.repeat(70 * 1024) }) };
    for (const ct of ['application/json', 'application/yaml']) {
      const r = await post('/api/v1/labels', big, ct);
      assert.equal(r.status, 413, ct);
      assert.equal(r.body.error.code, 'PAYLOAD_TOO_LARGE');
      assert.match(r.body.error.message, /65536 bytes/);
    }
    await assertNothingLeft();
  });

  it('an unsupported Content-Type → 415', async () => {
    const r = await post('/api/v1/labels', 'name=busybox', 'application/x-www-form-urlencoded');
    assert.equal(r.status, 415);
    assert.equal(r.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    await assertNothingLeft();
  });

  it('unknown uids → 404; a malformed uid → 400 naming the parameter; an unknown label → 404', async () => {
    const uid = '6f1c1b2e-8a7b-4c1d-9e2f-0a1b2c3d4e5f';
    for (const url of [
      `/api/v1/applications/${uid}`,
      `/api/v1/applications/${uid}/state`,
      `/api/v1/applications/${uid}/states`,
      `/api/v1/applications/${uid}/resource`,
      `/api/v1/applications/${uid}/tasks`,
      `/api/v1/labels/${uid}`,
    ]) {
      const r = await t.app.inject({ url, headers: bearer(token) });
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json<ErrorBody>().error.code, 'NOT_FOUND');
    }
    const dealloc = await post(`/api/v1/applications/${uid}/deallocate`, '');
    assert.equal(dealloc.status, 404);
    const malformed = await t.app.inject({ url: '/api/v1/applications/not-a-uid', headers: bearer(token) });
    assert.equal(malformed.statusCode, 400);
    assert.equal(malformed.json<ErrorBody>().error.message, 'params/uid must be a UUID');
    const noLabel = await post('/api/v1/applications', { label: 'nosuch' });
    assert.equal(noLabel.status, 404);
    assert.match(noLabel.body.error.message, /label "nosuch" not found/);
    const badQuery = await t.app.inject({ url: '/api/v1/applications?limit=0', headers: bearer(token) });
    assert.equal(badQuery.statusCode, 400);
    assert.equal(badQuery.json<ErrorBody>().error.message, 'querystring/limit must be >= 1');
    await assertNothingLeft();
  });

  it('a request larger than any node → 422 UNSATISFIABLE and no application', async () => {
    const label = await post('/api/v1/labels', {
      ...testLabelBody('huge'),
      definitions: [{ driver: 'test', requirements: { cpu: 64, ram: 1 } }],
    });
    assert.equal(label.status, 201, JSON.stringify(label.body));
    const r = await post('/api/v1/applications', { label: 'huge' });
    assert.equal(r.status, 422);
    assert.equal(r.body.error.code, 'UNSATISFIABLE');
    const apps = await t.app.inject({ url: '/api/v1/applications', headers: bearer(t.adminToken) });
    assert.deepEqual(apps.json<{ items: unknown[] }>().items, []);
  });
});
