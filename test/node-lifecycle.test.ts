// End to end against a real `shoal serve` process on the test driver: users and ownership, the
// lifecycle over HTTPS, the Meta API from the resource's own source address, SSE, bad inputs.
import assert from 'node:assert/strict';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ShoalApiError, ShoalClient } from '../src/client/index.js';
import type { StateEvent } from '../src/model/index.js';
import { startNodeProcess, type NodeProcess } from './helpers/node-process.js';
import { metaGet, waitForState } from './helpers/wait.js';

describe('a node on the test driver, end to end', { timeout: 120_000 }, () => {
  let node: NodeProcess;
  let admin: ShoalClient;
  let ci: ShoalClient;
  let other: ShoalClient;

  before(async () => {
    node = await startNodeProcess({ tls: true, config: { drivers: { test: { cpu: 8, ram: 8 } } } });
    admin = new ShoalClient({ url: node.apiUrl, ca: node.ca, token: node.token });
    const ciUser = await admin.createUser({ name: 'ci', role: 'user' });
    const otherUser = await admin.createUser({ name: 'other', role: 'user' });
    ci = new ShoalClient({ url: node.apiUrl, ca: node.ca, token: ciUser.token, user: 'ci' });
    other = new ShoalClient({ url: node.apiUrl, ca: node.ca, token: otherUser.token });
  });
  after(async () => {
    await node?.cleanup();
  });

  it('writes the admin token 0600 and a CA that the client trusts', async () => {
    const st = await stat(join(node.dataDir, 'admin.token'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.ok(node.ca?.includes('BEGIN CERTIFICATE'));
    const me = await admin.me();
    assert.equal(me.name, 'admin');
    assert.equal(me.role, 'admin');
  });

  it('runs the whole lifecycle and serves metadata only to the resource itself', async () => {
    const label = await ci.createLabel({
      name: 'e2e',
      definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1 } }],
      metadata: { FROM_LABEL: 'l', SHARED: 'label' },
    });
    assert.equal(label.version, 1);
    const app = await ci.createApplication({ label: 'e2e', metadata: { JOB: '42', SHARED: 'app' } });
    assert.equal(app.owner, 'ci');
    assert.equal(app.label_uid, label.uid);
    await waitForState(ci, app.uid, ['ALLOCATED']);

    const res = await ci.getResource(app.uid);
    assert.equal(res.application_uid, app.uid);
    assert.equal(res.driver, 'test');
    assert.equal(res.definition_index, 0);
    assert.match(res.hwaddr, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.match(res.ipaddr, /^127\.\d+\.\d+\.\d+$/);
    assert.deepEqual(res.metadata, { FROM_LABEL: 'l', SHARED: 'app', JOB: '42' });

    // the Meta API, as the resource (its source address) and as somebody else
    const mine = await metaGet(node.metaHost, node.metaPort, res.ipaddr);
    assert.equal(mine.status, 200);
    assert.deepEqual(JSON.parse(mine.body), { FROM_LABEL: 'l', SHARED: 'app', JOB: '42' });
    const env = await metaGet(node.metaHost, node.metaPort, res.ipaddr, '/meta/v1/data?format=env&prefix=JOB');
    assert.equal(env.status, 200);
    assert.match(env.body, /^JOB='?42'?$/m);
    assert.doesNotMatch(env.body, /FROM_LABEL/);
    const stranger = await metaGet(node.metaHost, node.metaPort, '127.0.0.1');
    assert.equal(stranger.status, 404);
    assert.doesNotMatch(stranger.body, /42/);

    // another user sees nothing of it
    await assert.rejects(other.getApplication(app.uid), (e: unknown) => e instanceof ShoalApiError && e.status === 404);
    await assert.rejects(other.getResource(app.uid), (e: unknown) => e instanceof ShoalApiError && e.status === 404);
    assert.equal((await other.listApplications()).items.length, 0);
    // the admin sees everything
    assert.ok((await admin.listApplications()).items.some((a) => a.uid === app.uid));

    const d = await ci.deallocate(app.uid);
    assert.ok(d.status === 'DEALLOCATE' || d.status === 'DEALLOCATED');
    await waitForState(ci, app.uid, ['DEALLOCATED']);
    const gone = await metaGet(node.metaHost, node.metaPort, res.ipaddr);
    assert.equal(gone.status, 404);

    const history = (await ci.listStates(app.uid)).map((s) => s.status);
    assert.deepEqual(history, ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED']);
    const files = await readdir(join(node.dataDir, 'drivers', 'test', 'resources')).catch(() => []);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.json')),
      [],
    );
  });

  it("streams the caller's own state changes and resumes after Last-Event-ID", async () => {
    const seen: StateEvent[] = [];
    const ac = new AbortController();
    const stream = ci.events({ signal: ac.signal });
    const otherSeen: StateEvent[] = [];
    const ac2 = new AbortController();
    const otherStream = other.events({ signal: ac2.signal });
    const reading = (async () => {
      for await (const e of stream) {
        seen.push(e);
        if (e.status === 'DEALLOCATED' && seen.filter((x) => x.status === 'DEALLOCATED').length >= 2) break;
      }
    })();
    const otherReading = (async () => {
      for await (const e of otherStream) otherSeen.push(e);
    })();
    const a = await ci.createApplication({ label: 'e2e' });
    await waitForState(ci, a.uid, ['ALLOCATED']);
    await ci.deallocate(a.uid);
    await waitForState(ci, a.uid, ['DEALLOCATED']);
    const mid = seen.filter((e) => e.application_uid === a.uid);
    assert.deepEqual(mid.map((e) => e.status).slice(-3), ['ALLOCATED', 'DEALLOCATE', 'DEALLOCATED']);
    const resumeFrom = mid.at(-1)!.id;
    // a second application: read it again from an id in the middle, with a fresh stream
    const b = await ci.createApplication({ label: 'e2e' });
    await waitForState(ci, b.uid, ['ALLOCATED']);
    await ci.deallocate(b.uid);
    await waitForState(ci, b.uid, ['DEALLOCATED']);
    await Promise.race([reading, new Promise((r) => setTimeout(r, 10000))]);
    ac.abort();
    const resumed: StateEvent[] = [];
    const ac3 = new AbortController();
    const again = ci.events({ lastEventId: resumeFrom, signal: ac3.signal });
    for await (const e of again) {
      resumed.push(e);
      if (e.application_uid === b.uid && e.status === 'DEALLOCATED') break;
    }
    ac3.abort();
    assert.ok(
      resumed.every((e) => BigInt(e.id) > BigInt(resumeFrom)),
      'resume replays only later events',
    );
    assert.deepEqual(
      resumed.filter((e) => e.application_uid === b.uid).map((e) => e.status),
      ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
    );
    assert.ok(!resumed.some((e) => e.application_uid === a.uid), 'nothing before the resume point');
    ac2.abort();
    await otherReading.catch(() => undefined);
    assert.equal(otherSeen.filter((e) => e.application_uid === a.uid || e.application_uid === b.uid).length, 0);
  });

  it('refuses bad input with a message naming the problem and stores nothing', async () => {
    const before = (await ci.listLabels()).items.length;
    await assert.rejects(
      ci.createLabel({ name: 'bad', definitions: [{ driver: 'nosuch', options: {}, requirements: { cpu: 1, ram: 1 } }] }),
      (e: unknown) => e instanceof ShoalApiError && e.status === 400 && /nosuch/.test(e.message),
    );
    await assert.rejects(
      ci.createLabel({ name: 'bad', definitions: [{ driver: 'test', options: { fail_allocate: 999 }, requirements: { cpu: 1, ram: 1 } }] }),
      (e: unknown) => e instanceof ShoalApiError && e.status === 400 && /fail_allocate/.test(e.message),
    );
    await assert.rejects(
      ci.createLabel({ name: 'bad', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 0, ram: 1 } }] }),
      (e: unknown) => e instanceof ShoalApiError && e.status === 400 && /cpu/.test(e.message),
    );
    await assert.rejects(
      ci.createApplication({ label: 'no-such-label' }),
      (e: unknown) => e instanceof ShoalApiError && e.status >= 400 && e.status < 500 && /no-such-label/.test(e.message),
    );
    // too big for this node (8 cpu): refused or marked, never silently stuck
    await ci.createLabel({ name: 'huge', definitions: [{ driver: 'test', options: {}, requirements: { cpu: 64, ram: 1 } }] });
    let huge: string | undefined;
    try {
      huge = (await ci.createApplication({ label: 'huge' })).uid;
    } catch (e) {
      assert.ok(e instanceof ShoalApiError && e.status === 422, String(e));
    }
    if (huge) {
      const st = await waitForState(ci, huge, ['ERROR']);
      assert.match(st.description, /cpu|capacity|larger/i);
    }
    const labels = (await ci.listLabels()).items;
    assert.equal(labels.filter((l) => l.name === 'bad').length, 0);
    assert.equal(labels.length, before + 1);
  });
});
