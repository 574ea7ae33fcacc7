import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import type { StateEvent } from '../model/index.js';
import { openStore } from '../store/index.js';
import { createTestDatabase } from '../store/testing/index.js';
import { CoreError } from './errors.js';
import { EventFeed } from './events/event-feed.js';
import { ADMIN, ALICE, BOB, Harness, silentLog, testLabel, waitFor } from './testing/core-harness.js';

function assertExactly(got: StateEvent[], want: { id: number }[], what: string): void {
  assert.deepEqual(
    got.map((e) => Number(e.id)),
    want.map((e) => e.id),
    what,
  );
}

test('subscribe: replay after an id, then live, filtered per caller, no gap or duplicate at the boundary', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node({ cpu: 1000, ram: 1000, driverConfig: { cpu: 1000, ram: 1000 } });
    const { core, store } = n;
    await core.createLabel(ALICE, testLabel('ev'));
    for (let i = 0; i < 5; i++) await core.createApplication(i % 2 ? BOB : ALICE, { label: 'ev' });
    const midpoint = await store.maxEventId();

    // keep producing while the subscribers replay and go live
    let producing = true;
    const producer = (async () => {
      for (let i = 0; producing && i < 150; i++) {
        const app = await core.createApplication(i % 3 ? ALICE : BOB, { label: 'ev' });
        if (i % 4 === 0) await core.deallocate(i % 3 ? ALICE : BOB, app.uid).catch(() => {});
        await new Promise((r) => setImmediate(r));
      }
    })();

    const alice: StateEvent[] = [];
    const admin: StateEvent[] = [];
    const fresh: StateEvent[] = [];
    const offs = [
      core.subscribe(ALICE, '0', (e) => alice.push(e)),
      core.subscribe(ADMIN, String(midpoint), (e) => admin.push(e)),
      core.subscribe(BOB, undefined, (e) => fresh.push(e)),
    ];
    // production overlaps the replays: stop only once every subscriber got something the producer
    // made after the subscriptions (alice past her replay, bob live)
    await waitFor(
      'every subscriber saw a produced event',
      () => [alice, admin, fresh].every((l) => l.some((e) => Number(e.id) > midpoint)) || undefined,
    );
    producing = false;
    await producer;
    // everything settles: no application is moving any more
    await waitFor('quiet', async () => {
      const c = await store.countByStatus();
      return !c.NEW && !c.ELECTED && !c.DEALLOCATE;
    });
    const last = await store.maxEventId();
    await waitFor('admin caught up', () => admin.length > 0 && Number(admin.at(-1)!.id) === last);
    const all = await store.eventsAfter(0, { limit: 100_000 });
    await waitFor('alice has all of hers', () => alice.length === all.filter((e) => e.owner === 'alice').length);
    offs.forEach((off) => off());

    assertExactly(
      alice,
      all.filter((e) => e.owner === 'alice'),
      'alice: all of hers from the start, in order, once',
    );
    assertExactly(
      admin,
      all.filter((e) => e.id > midpoint),
      'admin: everything after the midpoint',
    );
    assert.ok(fresh.length > 0, 'a live-only subscriber gets new events');
    assert.ok(
      fresh.every((e) => all.find((x) => x.id === Number(e.id))?.owner === 'bob'),
      'bob sees only his',
    );
    const firstFresh = Number(fresh[0]!.id);
    assertExactly(
      fresh,
      all.filter((e) => e.owner === 'bob' && e.id >= firstFresh),
      'bob: no gaps once live',
    );
    assert.ok(alice.every((e) => typeof e.id === 'string' && e.application_uid && e.status && e.created_at));

    assert.throws(
      () => core.subscribe(ALICE, 'abc', () => {}),
      (e: unknown) => e instanceof CoreError && e.code === 'INVALID' && /Last-Event-ID/.test(e.message),
    );
  } finally {
    await h.close();
  }
});

test('event feed: a subscriber far behind a small ring still gets every event exactly once', async () => {
  const db = await createTestDatabase('sqlite');
  const store = await openStore(db.url);
  const feed = new EventFeed(store, silentLog, 8);
  const off = store.onSignal((s) => {
    if (s.kind === 'events') feed.onEvents(s.lastId, s.events);
  });
  try {
    const label = await store.insertLabel({
      uid: randomUUID(),
      name: 'l',
      definitions: [],
      metadata: {},
      lifetime: null,
      wait_timeout: null,
      owner: 'alice',
      created_at: new Date().toISOString(),
    });
    const make = () =>
      store.insertApplication(
        {
          uid: randomUUID(),
          label_uid: label.uid,
          owner: 'alice',
          metadata: {},
          lifetime: null,
          wait_timeout: null,
          wait_deadline: null,
          created_at: new Date().toISOString(),
        },
        'new',
      );
    // an early live subscriber keeps the feed (and its tiny ring) busy
    const early: StateEvent[] = [];
    const offEarly = feed.subscribe(ADMIN, undefined, (e) => early.push(e));
    // it joins asynchronously (the feed was idle): make events until it has one, so it is live
    let warmup = 0;
    while (early.length === 0 && warmup < 1000) {
      await make();
      warmup += 1;
      await new Promise((r) => setImmediate(r)); // let the feed deliver what it has read
    }
    assert.ok(early.length > 0, 'the early subscriber went live');
    const firstEarly = Number(early[0]!.id);
    for (let i = 0; i < 50; i++) await make();
    const late: StateEvent[] = [];
    const offLate = feed.subscribe(ALICE, 0, (e) => late.push(e));
    const racing = (async () => {
      for (let i = 0; i < 50; i++) await make();
    })();
    await racing;
    // a sentinel after everything: once both have it, anything extra (a duplicate) came before it
    await make();
    const total = warmup + 101;
    await waitFor('late subscriber got the sentinel', () => late.some((e) => Number(e.id) === total) || undefined, 20_000);
    await waitFor('early subscriber got the sentinel', () => early.some((e) => Number(e.id) === total) || undefined, 20_000);
    assert.deepEqual(
      late.map((e) => Number(e.id)),
      Array.from({ length: total }, (_, i) => i + 1),
    );
    assert.deepEqual(
      early.map((e) => Number(e.id)),
      Array.from({ length: total - firstEarly + 1 }, (_, i) => firstEarly + i),
    );
    offEarly();
    offLate();
    assert.equal(feed.subscribers, 0);
  } finally {
    off();
    feed.close();
    await store.close();
    await db.drop();
  }
});

test('subscribe without a resume id is live at once: an application created right after is seen from NEW', async () => {
  const h = await Harness.create('sqlite');
  try {
    const n = await h.node({ cpu: 10, ram: 10, driverConfig: { cpu: 10, ram: 10 } });
    const { core } = n;
    await core.createLabel(ALICE, testLabel('live'));
    const seen: StateEvent[] = [];
    const off = core.subscribe(ALICE, undefined, (e) => seen.push(e));
    // no await between subscribing and creating: the classic "open stream, then create" client
    const app = await core.createApplication(ALICE, { label: 'live' });
    await waitFor('allocated seen', () => seen.some((e) => e.application_uid === app.uid && e.status === 'ALLOCATED'));
    off();
    assert.deepEqual(
      seen.filter((e) => e.application_uid === app.uid).map((e) => e.status),
      ['NEW', 'ELECTED', 'ALLOCATED'],
    );
  } finally {
    await h.close();
  }
});
