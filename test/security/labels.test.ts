import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startNodeProcess, type NodeProcess } from '../helpers/node-process.js';

/** Label hijack (issue 7, class 4) attacked on a real `shoal serve` process as an ordinary user. */

interface Reply {
  status: number;
  body: { error?: { code: string; message: string }; [k: string]: unknown };
}

function label(name: string, from: string) {
  return { name, definitions: [{ driver: 'test', requirements: { cpu: 1, ram: 1 } }], metadata: { FROM: from } };
}

describe('label names are owned (real node)', { timeout: 120_000 }, () => {
  let node: NodeProcess;
  const tokens: Record<string, string> = {};

  async function api(who: string, method: string, path: string, body?: unknown): Promise<Reply> {
    const res = await fetch(`${node.apiUrl}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text === '' ? {} : (JSON.parse(text) as Reply['body']) };
  }

  async function waitAllocated(who: string, uid: string): Promise<void> {
    for (let i = 0; i < 600; i++) {
      const s = await api(who, 'GET', `/applications/${uid}/state`);
      if (s.body.status === 'ALLOCATED') return;
      assert.notEqual(s.body.status, 'ERROR', JSON.stringify(s.body));
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`application ${uid} was not allocated`);
  }

  const alive = () => node.proc.exitCode === null && node.proc.signalCode === null;

  before(async () => {
    node = await startNodeProcess({ config: { drivers: { test: { cpu: 8, ram: 16 } } } });
    tokens.admin = node.token;
    for (const name of ['alice', 'mallory']) {
      const r = await api('admin', 'POST', '/users', { name, role: 'user' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      tokens[name] = r.body.token as string;
    }
  });
  after(async () => {
    await node?.cleanup();
  });

  test("publishing a version of another user's label is refused (403 naming the owner); the owner's next application runs the owner's definition", async () => {
    const mine = await api('alice', 'POST', '/labels', label('build', 'alice'));
    assert.equal(mine.status, 201);
    const hijack = await api('mallory', 'POST', '/labels', label('build', 'mallory'));
    assert.equal(hijack.status, 403);
    assert.equal(hijack.body.error?.code, 'FORBIDDEN');
    assert.match(hijack.body.error.message, /label name "build" belongs to alice: only its owner or an admin/);
    const listed = await api('mallory', 'GET', '/labels?name=build');
    assert.deepEqual(
      (listed.body.items as Array<{ version: number; owner: string }>).map((l) => [l.version, l.owner]),
      [[1, 'alice']],
    );
    const app = await api('alice', 'POST', '/applications', { label: 'build', metadata: { SECRET: 'for-alice-only' } });
    assert.equal(app.status, 201);
    assert.equal(app.body.label_uid, mine.body.uid);
    await waitAllocated('alice', app.body.uid as string);
    const res = await api('alice', 'GET', `/applications/${app.body.uid as string}/resource`);
    assert.equal((res.body.metadata as Record<string, unknown>).FROM, 'alice');
    assert.equal((await api('alice', 'POST', `/applications/${app.body.uid as string}/deallocate`)).status, 202);
    assert.ok(alive(), 'the node is still running');
  });

  test("deleting another user's label version is refused; the owner and an admin may; an admin's version keeps the owner", async () => {
    const v1 = await api('alice', 'POST', '/labels', label('deploy', 'alice'));
    const del = await api('mallory', 'DELETE', `/labels/${v1.body.uid as string}`);
    assert.equal(del.status, 403);
    assert.match(del.body.error!.message, /belongs to alice/);
    assert.equal((await api('mallory', 'GET', `/labels/${v1.body.uid as string}`)).status, 200, 'still there');
    const v2 = await api('admin', 'POST', '/labels', label('deploy', 'admin'));
    assert.equal(v2.status, 201);
    assert.deepEqual([v2.body.version, v2.body.owner, v2.body.published_by], [2, 'alice', 'admin']);
    assert.equal((await api('admin', 'DELETE', `/labels/${v1.body.uid as string}`)).status, 204);
    assert.equal((await api('alice', 'DELETE', `/labels/${v2.body.uid as string}`)).status, 204);
    // every version gone: the name is still alice's
    const grab = await api('mallory', 'POST', '/labels', label('deploy', 'mallory'));
    assert.equal(grab.status, 403);
    const owner = await api('mallory', 'GET', '/label-names/deploy');
    assert.deepEqual([owner.status, owner.body.owner], [200, 'alice']);
    // only an admin gives a name away
    assert.equal((await api('mallory', 'PUT', '/label-names/deploy', { owner: 'mallory' })).status, 403);
    assert.equal((await api('admin', 'PUT', '/label-names/deploy', { owner: 'mallory' })).status, 200);
    assert.equal((await api('mallory', 'POST', '/labels', label('deploy', 'mallory'))).status, 201);
    assert.ok(alive(), 'the node is still running');
  });

  test('two users racing for a new name: exactly one owns it', async () => {
    for (let round = 0; round < 5; round++) {
      const name = `race-${round}`;
      const replies = await Promise.all([
        api('alice', 'POST', '/labels', label(name, 'alice')),
        api('mallory', 'POST', '/labels', label(name, 'mallory')),
        api('alice', 'POST', '/labels', label(name, 'alice')),
        api('mallory', 'POST', '/labels', label(name, 'mallory')),
      ]);
      const owners = new Set(replies.filter((r) => r.status === 201).map((r) => r.body.owner));
      assert.equal(owners.size, 1, `one owner of ${name}`);
      const [owner] = [...owners] as string[];
      for (const r of replies) {
        if (r.status !== 201) {
          assert.equal(r.status, 403);
          assert.match(r.body.error!.message, new RegExp(`belongs to ${owner}`));
        }
      }
      const listed = await api('admin', 'GET', `/labels?name=${name}`);
      assert.ok((listed.body.items as Array<{ owner: string }>).every((l) => l.owner === owner));
    }
    assert.ok(alive(), 'the node is still running');
  });
});
