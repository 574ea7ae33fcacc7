import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { stringify as toYaml } from 'yaml';
import { bearer, createUser, startApiNode, testLabelBody, waitForState, type ApiTestNode } from './testing/api-harness.js';

interface Application {
  uid: string;
  label_uid: string;
  owner: string;
  metadata: Record<string, unknown>;
  created_at: string;
  state: { status: string; description: string; created_at: string };
}

describe('API: the lifecycle label → application → ALLOCATED → resource → deallocate → DEALLOCATED', () => {
  let t: ApiTestNode;
  let alice: string;
  let bob: string;

  before(async () => {
    t = await startApiNode();
    alice = await createUser(t, 'alice');
    bob = await createUser(t, 'bob');
  });
  after(async () => {
    await t?.close();
  });

  async function send(method: 'GET' | 'POST', url: string, token: string, payload?: object, format: 'json' | 'yaml' = 'json') {
    const r = await t.app.inject({
      method,
      url,
      headers: { ...bearer(token), ...(payload ? { 'content-type': format === 'json' ? 'application/json' : 'application/yaml' } : {}) },
      ...(payload ? { payload: format === 'json' ? JSON.stringify(payload) : toYaml(payload) } : {}),
    });
    return { status: r.statusCode, json: () => r.json<Record<string, unknown>>(), headers: r.headers, body: r.body };
  }

  for (const format of ['json', 'yaml'] as const) {
    it(`runs the whole lifecycle with ${format.toUpperCase()} bodies`, async () => {
      const labelName = `box-${format}`;
      const label = await send('POST', '/api/v1/labels', alice, { ...testLabelBody(labelName), lifetime: '2h' }, format);
      assert.equal(label.status, 201, label.body);
      const l = label.json() as { uid: string; name: string; version: number; metadata: object };
      assert.equal(l.name, labelName);
      assert.equal(l.version, 1);
      assert.equal(label.headers.location, `/api/v1/labels/${l.uid}`);

      const v2 = await send(
        'POST',
        '/api/v1/labels',
        alice,
        { ...testLabelBody(labelName, { LABEL_KEY: 'v2', SHARED: 'from-label' }) },
        format,
      );
      assert.equal((v2.json() as { version: number }).version, 2, 'same name → next version');

      const created = await send(
        'POST',
        '/api/v1/applications',
        alice,
        { label: labelName, metadata: { JOB: '42', SHARED: 'from-app' } },
        format,
      );
      assert.equal(created.status, 201, created.body);
      const app = created.json() as unknown as Application;
      assert.deepEqual(Object.keys(app).sort(), ['created_at', 'label_uid', 'metadata', 'owner', 'owner_id', 'state', 'uid']);
      assert.equal(app.owner, 'alice');
      assert.equal(app.label_uid, (v2.json() as { uid: string }).uid, 'version omitted = latest');
      assert.equal(app.state.status, 'NEW');
      assert.deepEqual(app.metadata, { JOB: '42', SHARED: 'from-app' });

      const allocated = await waitForState(t, alice, app.uid, ['ALLOCATED', 'ERROR']);
      assert.equal(allocated.status, 'ALLOCATED', allocated.description);

      const res = await send('GET', `/api/v1/applications/${app.uid}/resource`, alice);
      assert.equal(res.status, 200, res.body);
      const r = res.json();
      for (const k of ['application_uid', 'node', 'driver', 'definition_index', 'hwaddr', 'ipaddr', 'metadata', 'expires_at'])
        assert.ok(k in r, `resource has ${k}`);
      assert.equal(r.application_uid, app.uid);
      assert.equal(r.driver, 'test');
      assert.equal(r.definition_index, 0);
      assert.match(String(r.hwaddr), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.match(String(r.ipaddr), /^127\.\d+\.\d+\.\d+$/);
      assert.deepEqual(r.metadata, { LABEL_KEY: 'v2', SHARED: 'from-app', JOB: '42' }, 'application keys win');
      assert.equal(r.expires_at, null, 'the newest label version has no lifetime');

      const resources = await send('GET', '/api/v1/resources', alice);
      assert.ok((resources.json() as { items: Array<{ application_uid: string }> }).items.some((x) => x.application_uid === app.uid));

      const task = await send(
        'POST',
        `/api/v1/applications/${app.uid}/tasks`,
        alice,
        { task: 'snapshot', options: { full: false } },
        format,
      );
      assert.equal(task.status, 201, task.body);
      assert.equal((task.json() as { when: string }).when, 'NOW', 'default filled in');
      const tasks = await send('GET', `/api/v1/applications/${app.uid}/tasks`, alice);
      assert.equal((tasks.json() as { items: unknown[] }).items.length, 1);

      const dealloc = await send('POST', `/api/v1/applications/${app.uid}/deallocate`, alice);
      assert.equal(dealloc.status, 202, dealloc.body);
      assert.ok(['DEALLOCATE', 'DEALLOCATED'].includes(String(dealloc.json().status)));
      const done = await waitForState(t, alice, app.uid, ['DEALLOCATED', 'ERROR']);
      assert.equal(done.status, 'DEALLOCATED', done.description);

      const states = await send('GET', `/api/v1/applications/${app.uid}/states`, alice);
      const history = (states.json() as { items: Array<{ status: string }> }).items.map((s) => s.status);
      assert.deepEqual(history, ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED']);
      const again = await send('POST', `/api/v1/applications/${app.uid}/deallocate`, alice);
      assert.ok([202, 409].includes(again.status), `deallocating twice: ${again.status}`);
      assert.ok(!(await t.node.driver.listResources()).includes(String(r.hwaddr)), 'the driver released the resource');
    });
  }

  it('deallocating a NEW application ends it at once (202 DEALLOCATED)', async () => {
    await send('POST', '/api/v1/labels', alice, testLabelBody('waiting'));
    await send('POST', '/api/v1/nodes/this/maintenance', t.adminToken, { enabled: true });
    try {
      // in maintenance the node takes no work: the application waits in NEW
      const created = await send('POST', '/api/v1/applications', alice, { label: 'waiting' });
      assert.equal(created.status, 201, created.body);
      const uid = (created.json() as { uid: string }).uid;
      assert.equal((await send('GET', `/api/v1/applications/${uid}/state`, alice)).json().status, 'NEW');
      const d = await send('POST', `/api/v1/applications/${uid}/deallocate`, alice);
      assert.equal(d.status, 202);
      assert.equal(d.json().status, 'DEALLOCATED');
      assert.equal((await waitForState(t, alice, uid, 'DEALLOCATED')).status, 'DEALLOCATED');
    } finally {
      const off = await send('POST', '/api/v1/nodes/this/maintenance', t.adminToken, { enabled: false });
      assert.equal(off.status, 200);
      assert.equal(off.json().maintenance, false);
    }
  });

  it('ownership: another user gets 404 on every part of an application and sees none in lists', async () => {
    await send('POST', '/api/v1/labels', alice, testLabelBody('owned'));
    const created = await send('POST', '/api/v1/applications', alice, { label: 'owned', metadata: { SECRET: 'alice-only' } });
    const uid = (created.json() as { uid: string }).uid;
    await waitForState(t, alice, uid, 'ALLOCATED');
    try {
      for (const [method, url, payload] of [
        ['GET', `/api/v1/applications/${uid}`],
        ['GET', `/api/v1/applications/${uid}/state`],
        ['GET', `/api/v1/applications/${uid}/states`],
        ['GET', `/api/v1/applications/${uid}/resource`],
        ['GET', `/api/v1/applications/${uid}/tasks`],
        ['GET', `/api/v1/applications/${uid}/console`],
        ['POST', `/api/v1/applications/${uid}/tasks`, { task: 'snapshot' }],
        ['POST', `/api/v1/applications/${uid}/deallocate`],
      ] as Array<['GET' | 'POST', string, object?]>) {
        const r = await send(method, url, bob, payload);
        assert.equal(r.status, 404, `${method} ${url}: ${r.body}`);
        assert.equal((r.json() as { error: { code: string } }).error.code, 'NOT_FOUND');
        assert.ok(!r.body.includes('alice-only'));
      }
      for (const url of ['/api/v1/applications', '/api/v1/resources']) {
        const r = await send('GET', url, bob);
        assert.equal(r.status, 200);
        assert.deepEqual((r.json() as { items: unknown[] }).items, [], `${url} shows bob nothing of alice's`);
      }
      assert.equal((await waitForState(t, alice, uid, 'ALLOCATED')).status, 'ALLOCATED', "bob's deallocate changed nothing");
      const asAdmin = await send('GET', `/api/v1/applications/${uid}/resource`, t.adminToken);
      assert.equal(asAdmin.status, 200, 'admins see everything');
    } finally {
      await send('POST', `/api/v1/applications/${uid}/deallocate`, alice);
      await waitForState(t, alice, uid, 'DEALLOCATED');
    }
  });

  it('lists paginate with limit and cursor', async () => {
    for (const n of ['page-a', 'page-b', 'page-c'])
      assert.equal((await send('POST', '/api/v1/labels', alice, testLabelBody(n))).status, 201);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const r = await send('GET', `/api/v1/labels?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, alice);
      assert.equal(r.status, 200, r.body);
      const page = r.json() as { items: Array<{ name: string; version: number }>; next_cursor?: string };
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((l) => `${l.name}@${l.version}`));
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    assert.equal(new Set(seen).size, seen.length, 'no label twice');
    for (const n of ['page-a@1', 'page-b@1', 'page-c@1']) assert.ok(seen.includes(n), `${n} listed`);
    const latest = await send('GET', '/api/v1/labels?name=box-json&version=latest', alice);
    assert.deepEqual(
      (latest.json() as { items: Array<{ version: number }> }).items.map((l) => l.version),
      [2],
    );
    const states = await send('GET', `/api/v1/applications?limit=1`, alice);
    const first = states.json() as { items: unknown[]; next_cursor?: string };
    assert.equal(first.items.length, 1);
    assert.ok(first.next_cursor, 'more applications than one');
    const uid = (first.items[0] as { uid: string }).uid;
    const two = await send('GET', `/api/v1/applications/${uid}/states?limit=2`, alice);
    const p1 = two.json() as { items: Array<{ status: string }>; next_cursor?: string };
    assert.deepEqual(
      p1.items.map((s) => s.status),
      ['NEW', 'ELECTED'],
    );
    assert.ok(p1.next_cursor);
    const p2 = (await send('GET', `/api/v1/applications/${uid}/states?limit=2&cursor=${p1.next_cursor}`, alice)).json() as {
      items: Array<{ status: string }>;
    };
    assert.deepEqual(
      p2.items.map((s) => s.status),
      ['ALLOCATED', 'DEALLOCATE'],
    );
    const bad = await send('GET', `/api/v1/applications/${uid}/states?cursor=zzz`, alice);
    assert.equal(bad.status, 400);
    assert.match((bad.json() as { error: { message: string } }).error.message, /cursor/);
  });

  it('nodes: this node and the list', async () => {
    const self = await send('GET', '/api/v1/nodes/this', bob);
    assert.equal(self.status, 200);
    const n = self.json() as { name: string; capacity: { cpu: number }; drivers: Array<{ instance: string }> };
    assert.equal(n.name, t.node.name);
    assert.ok(n.drivers.some((d) => d.instance === 'test'));
    const list = await send('GET', '/api/v1/nodes', bob);
    assert.ok((list.json() as { items: Array<{ name: string }> }).items.some((x) => x.name === t.node.name));
  });
});
