import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CoreService } from '../core/core-service.js';
import { bearer, createUser, SseClient, startApiNode, testLabelBody, waitForState, type ApiTestNode } from './testing/api-harness.js';

interface StateData {
  application_uid: string;
  status: string;
  description: string;
  created_at: string;
}

const data = (c: SseClient): Array<StateData & { id: string }> => c.events.map((e) => ({ id: e.id, ...(JSON.parse(e.data) as StateData) }));

describe('API: GET /api/v1/events (Server-Sent Events)', () => {
  let t: ApiTestNode;
  let alice: string;
  let bob: string;
  let active = 0;
  const streams: SseClient[] = [];

  before(async () => {
    // counts live subscriptions, to see that a closed stream unsubscribes
    const wrapCore = (core: CoreService): CoreService =>
      new Proxy(core, {
        get(target, prop, receiver) {
          if (prop === 'subscribe') {
            return (...args: Parameters<CoreService['subscribe']>) => {
              const off = target.subscribe(...args);
              active++;
              let done = false;
              return () => {
                if (!done) active--;
                done = true;
                off();
              };
            };
          }
          const v = Reflect.get(target, prop, receiver) as unknown;
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
    t = await startApiNode({ wrapCore, api: { events: { heartbeatMs: 50 } } });
    await t.listen();
    alice = await createUser(t, 'alice');
    bob = await createUser(t, 'bob');
    for (const [who, token] of [
      ['alice', alice],
      ['bob', bob],
    ] as const) {
      const r = await t.app.inject({ method: 'POST', url: '/api/v1/labels', headers: bearer(token), payload: testLabelBody(`ev-${who}`) });
      assert.equal(r.statusCode, 201);
    }
  });
  after(async () => {
    for (const s of streams) s.close();
    await t?.close();
  });

  async function open(token: string, opts: { lastEventId?: string; query?: string } = {}): Promise<SseClient> {
    const c = await SseClient.open(`${t.url}/api/v1/events${opts.query ?? ''}`, {
      ...bearer(token),
      ...(opts.lastEventId ? { 'last-event-id': opts.lastEventId } : {}),
    });
    streams.push(c);
    return c;
  }

  async function runApp(token: string, label: string): Promise<string> {
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/applications', headers: bearer(token), payload: { label } });
    assert.equal(r.statusCode, 201, r.body);
    const uid = r.json<{ uid: string }>().uid;
    await waitForState(t, token, uid, 'ALLOCATED');
    return uid;
  }

  it('streams state events with id, event: state and the contract data', async () => {
    const c = await open(alice, { query: '?last_event_id=0' });
    assert.equal(c.status, 200);
    assert.match(String(c.headers['content-type']), /^text\/event-stream/);
    const uid = await runApp(alice, 'ev-alice');
    await c.until('ALLOCATED of the new application', (s) => data(s).some((e) => e.application_uid === uid && e.status === 'ALLOCATED'));
    const mine = data(c).filter((e) => e.application_uid === uid);
    assert.deepEqual(
      mine.map((e) => e.status),
      ['NEW', 'ELECTED', 'ALLOCATED'],
    );
    for (const e of c.events) assert.equal(e.event, 'state');
    for (const e of mine) {
      assert.deepEqual(Object.keys(JSON.parse(c.events.find((x) => x.id === e.id)!.data) as object).sort(), [
        'application_uid',
        'created_at',
        'description',
        'status',
      ]);
      assert.ok(!Number.isNaN(Date.parse(e.created_at)));
    }
    const ids = c.events.map((e) => Number(e.id));
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids increase',
    );
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    await c.until('a heartbeat comment', (s) => s.comments.includes('ping'));
  });

  it('resumes after Last-Event-ID (header or query) with exactly the later events', async () => {
    const uid = await runApp(alice, 'ev-alice');
    const all = await open(alice, { query: '?last_event_id=0' });
    await all.until('the app ALLOCATED', (s) => data(s).some((e) => e.application_uid === uid && e.status === 'ALLOCATED'));
    const mine = data(all).filter((e) => e.application_uid === uid);
    const newId = mine[0]!.id;

    const resumed = await open(alice, { lastEventId: newId });
    await resumed.until('the app ALLOCATED', (s) => data(s).some((e) => e.application_uid === uid && e.status === 'ALLOCATED'));
    const got = data(resumed);
    assert.ok(
      got.every((e) => Number(e.id) > Number(newId)),
      'nothing at or before Last-Event-ID',
    );
    assert.deepEqual(
      got.filter((e) => e.application_uid === uid).map((e) => e.status),
      ['ELECTED', 'ALLOCATED'],
    );
    assert.deepEqual(
      got.map((e) => e.id),
      data(all)
        .filter((e) => Number(e.id) > Number(newId))
        .map((e) => e.id)
        .slice(0, got.length),
    );

    // the header wins over the query
    const both = await open(alice, { lastEventId: mine[1]!.id, query: '?last_event_id=0' });
    await both.until('the app ALLOCATED', (s) => data(s).some((e) => e.application_uid === uid && e.status === 'ALLOCATED'));
    assert.deepEqual(
      data(both)
        .filter((e) => e.application_uid === uid)
        .map((e) => e.status),
      ['ALLOCATED'],
    );

    // and deallocation shows up live
    await t.app.inject({ method: 'POST', url: `/api/v1/applications/${uid}/deallocate`, headers: bearer(alice) });
    await resumed.until('DEALLOCATED', (s) => data(s).some((e) => e.application_uid === uid && e.status === 'DEALLOCATED'));
  });

  it("a user sees none of another user's events; an admin sees both", async () => {
    const bobStream = await open(bob, { query: '?last_event_id=0' });
    const adminStream = await open(t.adminToken, { query: '?last_event_id=0' });
    const aliceUid = await runApp(alice, 'ev-alice');
    const bobUid = await runApp(bob, 'ev-bob');
    await bobStream.until("bob's app ALLOCATED", (s) => data(s).some((e) => e.application_uid === bobUid && e.status === 'ALLOCATED'));
    await adminStream.until('both apps ALLOCATED', (s) =>
      [aliceUid, bobUid].every((u) => data(s).some((e) => e.application_uid === u && e.status === 'ALLOCATED')),
    );
    const bobSees = new Set(data(bobStream).map((e) => e.application_uid));
    assert.deepEqual([...bobSees], [bobUid], 'bob sees only his own application');
  });

  it('refuses a malformed Last-Event-ID with 400 before streaming', async () => {
    const c = await open(alice, { lastEventId: 'abc' });
    await c.until('the end of the answer', (s) => s.raw.length > 0 && s.closed).catch(() => undefined);
    assert.equal(c.status, 400);
    const body = JSON.parse(c.raw) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'INVALID');
    assert.match(body.error.message, /Last-Event-ID/);
  });

  it('unsubscribes when the client goes away, and ends streams when the server closes', async () => {
    for (const s of streams.splice(0)) s.close();
    const deadline = Date.now() + 15_000;
    while (active !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(active, 0, 'every closed stream unsubscribed');

    const c = await open(alice);
    await c.until('the stream to open', (s) => s.comments.includes('connected'));
    assert.equal(active, 1);
    await t.app.close();
    await c.until('the server to end the stream', (s) => s.closed).catch(() => undefined);
    assert.ok(c.closed, 'the stream ended');
    assert.equal(active, 0);
  });
});
