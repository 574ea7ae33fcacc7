import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { openStore } from '../open-store.js';
import { LISTENER_NAME } from '../postgres/postgres-dialect.js';
import { makeLabel, newApp, storeForSuite } from '../store-test-kit.js';
import type { StoreSignal } from '../store.js';
import { createTestDatabase, TEST_DIALECTS, TEST_PG_URL, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`events and signals on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('events: global ids without gaps, owner filter, upper bound', async () => {
      const label = await makeLabel(db.store, 'ev');
      const start = await db.store.maxEventId();
      await db.store.insertApplication(newApp(label.uid, 'alice'), 'new');
      await db.store.insertApplication(newApp(label.uid, 'carol'), 'new');
      await db.store.insertApplication(newApp(label.uid, 'alice'), 'new');
      const all = await db.store.eventsAfter(start, { limit: 100 });
      assert.deepEqual(
        all.map((e) => e.id),
        [start + 1, start + 2, start + 3],
      );
      assert.equal(await db.store.maxEventId(), start + 3);
      const alice = await db.store.eventsAfter(start, { limit: 100, owner: 'alice' });
      assert.deepEqual(
        alice.map((e) => e.id),
        [start + 1, start + 3],
      );
      const bounded = await db.store.eventsAfter(start, { limit: 100, upTo: start + 2 });
      assert.equal(bounded.length, 2);
    });

    test('signals: local commits report their events; queue wake-ups', async () => {
      const label = await makeLabel(db.store, 'sig');
      const got: StoreSignal[] = [];
      const off = db.store.onSignal((s) => got.push(s));
      const { event } = await db.store.insertApplication(newApp(label.uid), 'new');
      off();
      const ev = got.find((s) => s.kind === 'events' && s.events !== undefined);
      assert.ok(ev && ev.kind === 'events');
      assert.equal(ev.lastId, event.id);
      assert.deepEqual(
        ev.events?.map((e) => e.application_uid),
        [event.application_uid],
      );
      assert.ok(got.some((s) => s.kind === 'queue'));
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);

test('postgres: another node hears NOTIFY wake-ups', async () => {
  const tdb = await createTestDatabase('postgres');
  const a = await openStore(tdb.url);
  const b = await openStore(tdb.url);
  try {
    const heard = new Promise<StoreSignal[]>((resolve) => {
      const got: StoreSignal[] = [];
      const off = b.onSignal((s) => {
        got.push(s);
        if (got.some((x) => x.kind === 'events') && got.some((x) => x.kind === 'queue')) {
          off();
          resolve(got);
        }
      });
    });
    const label = await makeLabel(a, 'notify');
    const { event } = await a.insertApplication(newApp(label.uid), 'new');
    let timer: NodeJS.Timeout | undefined;
    const got = await Promise.race([
      heard,
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error('no NOTIFY within 10 s')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const ev = got.find((s) => s.kind === 'events');
    assert.ok(ev && ev.kind === 'events' && ev.lastId === event.id);
  } finally {
    await a.close();
    await b.close();
    await tdb.drop();
  }
});

test('postgres: a lost LISTEN connection comes back, says "resync", and hears wake-ups again', async () => {
  const tdb = await createTestDatabase('postgres');
  const a = await openStore(tdb.url);
  const b = await openStore(tdb.url);
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  await admin.connect();
  try {
    const got: StoreSignal[] = [];
    b.onSignal((s) => got.push(s));
    const schema = new URL(tdb.url).searchParams.get('schema')!;
    // kill b's listener (both stores listen on this schema's channel; kill them all, then watch b)
    const killed = await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query = $2`, [
      LISTENER_NAME,
      `LISTEN shoal_${schema}`,
    ]);
    assert.ok(killed.rowCount! >= 2, 'the listeners were found');
    const deadline = Date.now() + 20_000;
    while (!got.some((s) => s.kind === 'resync') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      got.some((s) => s.kind === 'resync'),
      'resync after reconnecting',
    );
    const label = await makeLabel(a, 'relisten');
    const { event } = await a.insertApplication(newApp(label.uid), 'new');
    while (!got.some((s) => s.kind === 'events' && s.lastId === event.id) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    assert.ok(
      got.some((s) => s.kind === 'events' && s.lastId === event.id),
      'hears the other node again',
    );
  } finally {
    await admin.end();
    await a.close();
    await b.close();
    await tdb.drop();
  }
});
