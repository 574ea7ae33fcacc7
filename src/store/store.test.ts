import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ConflictError, LabelNameOwnedError } from './errors.js';
import { describeStoreUrl, openStore } from './open-store.js';
import type { ApplicationRow, ClaimChoice, ClaimRequest, NewApplication, NodeRow, Store, StoreSignal } from './store.js';
import pg from 'pg';
import { LISTENER_NAME } from './postgres/postgres-dialect.js';
import { createTestDatabase, TEST_DIALECTS, TEST_PG_URL, type TestDatabase, type TestDialect } from './testing/index.js';

const now = () => new Date().toISOString();

function nodeRow(name: string, over: Partial<NodeRow> = {}): NodeRow {
  return {
    name,
    address: `https://${name}:8001`,
    cpu: 4,
    ram: 8,
    cpu_overbook: 1,
    ram_overbook: 1,
    tags: { os: 'linux' },
    drivers: [{ instance: 'test', driver: 'test', enabled: true, health: 'healthy', description: '', attributes: {} }],
    heartbeat_at: now(),
    started_at: now(),
    maintenance: false,
    ...over,
  };
}

async function makeLabel(store: Store, name = 'lbl', cpu = 1, ram = 1) {
  return store.insertLabel({
    uid: randomUUID(),
    name,
    definitions: [{ driver: 'test', options: {}, requirements: { cpu, ram, disks: {}, network: '' } }],
    metadata: { A: '1' },
    lifetime: null,
    wait_timeout: null,
    owner: 'alice',
    created_at: now(),
  });
}

function newApp(labelUid: string, owner = 'alice', over: Partial<NewApplication> = {}): NewApplication {
  return {
    uid: randomUUID(),
    label_uid: labelUid,
    owner,
    metadata: { JOB: '1' },
    lifetime: null,
    wait_timeout: null,
    wait_deadline: null,
    created_at: now(),
    ...over,
  };
}

/** A claim request that takes 1-cpu applications while they fit `cap`. */
function greedyClaim(node: string, cap: number, max = Infinity): ClaimRequest {
  return {
    node,
    at: now(),
    pageSize: 16,
    maxScan: 1000,
    choose(candidates, usage): ClaimChoice {
      const picks: ClaimChoice['picks'] = [];
      for (const c of candidates) {
        if (usage.cpu + 1 > cap || picks.length >= max) return { picks, more: false };
        usage.cpu += 1;
        usage.ram += 1;
        picks.push({ uid: c.uid, driver: 'test', definition_index: 0, cpu: 1, ram: 1, description: `elected by ${node}` });
      }
      return { picks, more: true };
    },
  };
}

function suite(kind: TestDialect): void {
  describe(`store on ${kind}`, () => {
    let tdb: TestDatabase;
    let store: Store;

    before(async () => {
      tdb = await createTestDatabase(kind);
      store = await openStore(tdb.url);
    });
    after(async () => {
      await store?.close();
      await tdb?.drop();
    });

    test('users: insert, unique name, lookup by token id, page, delete', async () => {
      assert.equal(await store.countUsers(), 0);
      await store.insertUser({ name: 'admin', role: 'admin', token_id: 'tid1', token_hash: 'h1', created_at: now() });
      await store.insertUser({ name: 'bob', role: 'user', token_id: 'tid2', token_hash: 'h2', created_at: now() });
      await assert.rejects(
        store.insertUser({ name: 'bob', role: 'user', token_id: 'tid3', token_hash: 'h3', created_at: now() }),
        (e: unknown) => e instanceof ConflictError && e.code === 'CONFLICT' && /bob/.test(e.message),
      );
      assert.equal((await store.getUserByTokenId('tid2'))?.name, 'bob');
      assert.equal(await store.getUserByTokenId('nope'), undefined);
      const page1 = await store.listUsers({ limit: 1 });
      assert.deepEqual(
        page1.map((u) => u.name),
        ['admin'],
      );
      const page2 = await store.listUsers({ limit: 5, after: 'admin' });
      assert.deepEqual(
        page2.map((u) => u.name),
        ['bob'],
      );
      assert.equal(await store.deleteUser('bob'), true);
      assert.equal(await store.deleteUser('bob'), false);
      assert.equal(await store.countUsers(), 1);
    });

    test('label names: one owner per name even when users race for it; admins publish for the owner; owned after deletes', async () => {
      const publish = (s: Store, name: string, by: string, asAdmin = false) =>
        s.insertLabel(
          {
            uid: randomUUID(),
            name,
            definitions: [{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1, disks: {}, network: '' } }],
            metadata: { BY: by },
            lifetime: null,
            wait_timeout: null,
            owner: by,
            created_at: now(),
          },
          { asAdmin },
        );
      const other = await openStore(tdb.url);
      try {
        for (let round = 0; round < 4; round++) {
          const name = `owned-${round}`;
          // four users, two stores (two nodes on one database), the same new name at once
          const results = await Promise.allSettled(
            ['alice', 'bob', 'carol', 'dave'].map((u, i) => publish(i % 2 ? other : store, name, u)),
          );
          const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
          assert.equal(won.length, 1, `exactly one first version of ${name}`);
          const owner = won[0]!.owner;
          assert.equal(won[0]!.version, 1);
          for (const r of results) {
            if (r.status === 'rejected') {
              assert.ok(r.reason instanceof LabelNameOwnedError, String(r.reason));
              assert.equal(r.reason.owner, owner);
              assert.equal(r.reason.code, 'NOT_OWNER');
            }
          }
          assert.equal((await store.getLabelName(name))?.owner, owner);
          assert.deepEqual(
            (await store.listLabels({ limit: 10, name })).map((l) => [l.version, l.owner, l.metadata.BY]),
            [[1, owner, owner]],
          );
        }
      } finally {
        await other.close();
      }
      const first = await publish(store, 'kept', 'alice');
      await assert.rejects(publish(store, 'kept', 'bob'), LabelNameOwnedError);
      const byAdmin = await publish(store, 'kept', 'root', true);
      assert.deepEqual([byAdmin.version, byAdmin.owner, byAdmin.published_by], [2, 'alice', 'root']);
      assert.deepEqual([(await store.getLabel(byAdmin.uid))?.owner, (await store.getLabel(byAdmin.uid))?.published_by], ['alice', 'root']);
      assert.equal((await store.getLabel(first.uid))?.published_by, 'alice');
      // every version deleted: the name is still alice's
      assert.equal(await store.deleteLabel(first.uid, now()), true);
      assert.equal(await store.deleteLabel(byAdmin.uid, now()), true);
      assert.equal(await store.findLabel('kept', 'latest'), undefined);
      await assert.rejects(publish(store, 'kept', 'bob'), (e: unknown) => e instanceof LabelNameOwnedError && e.owner === 'alice');
      assert.equal((await publish(store, 'kept', 'alice')).version, 3);
      // an admin gives the name to bob: bob publishes, alice no longer can; old versions keep alice
      assert.equal((await store.setLabelNameOwner('kept', 'bob', now())).owner, 'bob');
      const bobs = await publish(store, 'kept', 'bob');
      assert.deepEqual([bobs.version, bobs.owner], [4, 'bob']);
      await assert.rejects(publish(store, 'kept', 'alice'), (e: unknown) => e instanceof LabelNameOwnedError && e.owner === 'bob');
      assert.equal((await store.findLabel('kept', 3))?.owner, 'alice');
      // giving a never-published name reserves it
      await store.setLabelNameOwner('reserved', 'carol', now());
      await assert.rejects(publish(store, 'reserved', 'alice'), LabelNameOwnedError);
    });

    test('labels: versions per name, also when created concurrently; soft delete; latest', async () => {
      const a1 = await makeLabel(store, 'alpha');
      const a2 = await makeLabel(store, 'alpha');
      const b1 = await makeLabel(store, 'beta');
      assert.deepEqual([a1.version, a2.version, b1.version], [1, 2, 1]);
      // concurrent creations (two stores on the same database) get distinct versions
      const other = await openStore(tdb.url);
      try {
        const made = await Promise.all(
          Array.from({ length: 8 }, (_, i) => makeLabel(i % 2 ? other : store, 'gamma')),
        );
        assert.deepEqual(
          made.map((l) => l.version).sort((x, y) => x - y),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
      } finally {
        await other.close();
      }
      assert.equal((await store.findLabel('alpha', 'latest'))?.uid, a2.uid);
      assert.equal(await store.deleteLabel(a2.uid, now()), true);
      assert.equal(await store.deleteLabel(a2.uid, now()), false);
      assert.equal((await store.findLabel('alpha', 'latest'))?.uid, a1.uid);
      assert.equal(await store.findLabel('alpha', 2), undefined);
      assert.notEqual((await store.getLabel(a2.uid))?.deleted_at, null, 'a deleted label can still be read by uid');
      const latest = await store.listLabels({ limit: 100, version: 'latest' });
      assert.deepEqual(
        latest.filter((l) => ['alpha', 'beta', 'gamma'].includes(l.name)).map((l) => `${l.name}@${l.version}`),
        ['alpha@1', 'beta@1', 'gamma@8'],
      );
      const paged = await store.listLabels({ limit: 3, name: 'gamma', after: { name: 'gamma', version: 2 } });
      assert.deepEqual(
        paged.map((l) => l.version),
        [3, 4, 5],
      );
      assert.deepEqual((await store.getLabel(a1.uid))?.definitions[0]?.requirements, { cpu: 1, ram: 1, disks: {}, network: '' });
    });

    test('applications: NEW with a state row; conditional transitions; resource rows; history in id order', async () => {
      const label = await makeLabel(store, 'apps');
      const { app, event } = await store.insertApplication(newApp(label.uid), 'waiting for a node');
      assert.equal(app.status, 'NEW');
      assert.equal(app.seq, event.id);
      assert.equal(event.status, 'NEW');
      await store.upsertNode(nodeRow('n1'));

      // wrong "from" → not applied, nothing appended
      const [miss] = await store.transition([{ uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'x', at: now() }]);
      assert.equal(miss, null);
      assert.equal((await store.listStates(app.uid)).length, 1);

      const [claimed] = await store.claim(greedyClaim('n1', 100, 1));
      assert.equal(claimed?.app.uid, app.uid);
      assert.equal(claimed?.app.status, 'ELECTED');
      assert.equal(claimed?.app.node, 'n1');

      // only the electing node may complete it
      const [other] = await store.transition([
        { uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'x', at: now(), onlyNode: 'n2' },
      ]);
      assert.equal(other, null);
      const res = {
        application_uid: app.uid,
        owner: 'alice',
        node: 'n1',
        driver: 'test',
        definition_index: 0,
        hwaddr: '02:00:00:00:00:01',
        ipaddr: '127.1.2.3',
        metadata: { A: '1', JOB: '1' },
        expires_at: null,
        created_at: now(),
      };
      const [ok] = await store.transition([
        { uid: app.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'allocated', at: now(), onlyNode: 'n1', insertResource: res },
      ]);
      assert.equal(ok?.status, 'ALLOCATED');
      assert.deepEqual(await store.getResource(app.uid), res);
      assert.ok((await store.knownHwaddrs()).has('02:00:00:00:00:01'));

      await store.insertTask({
        uid: randomUUID(),
        application_uid: app.uid,
        owner: 'alice',
        task: 'snapshot',
        options: { full: true },
        when: 'DEALLOCATE',
        status: 'PENDING',
        result: '',
        created_at: now(),
        updated_at: now(),
      });
      assert.equal((await store.pendingTasks('n1', 'DEALLOCATE')).length, 1);
      assert.equal((await store.pendingTasks('n2', 'DEALLOCATE')).length, 0);

      const [, done] = await store.transition([
        { uid: app.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'requested', at: now() },
        {
          uid: app.uid,
          from: ['DEALLOCATE'],
          to: 'DEALLOCATED',
          description: 'gone',
          at: now(),
          deleteResource: true,
          failPendingTasks: 'skipped',
        },
      ]);
      assert.equal(done?.status, 'DEALLOCATED');
      assert.equal(await store.getResource(app.uid), undefined);
      const [task] = await store.listTasks(app.uid);
      assert.equal(task?.status, 'FAILED');
      assert.equal(task?.result, 'skipped');

      const states = await store.listStates(app.uid);
      assert.deepEqual(
        states.map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE', 'DEALLOCATED'],
      );
      for (let i = 1; i < states.length; i++) assert.ok(states[i]!.id > states[i - 1]!.id);
      const final = await store.getApplication(app.uid);
      assert.equal(final?.status, 'DEALLOCATED');
      assert.equal(final?.status_description, 'gone');
    });

    test('events: global ids without gaps, owner filter, upper bound', async () => {
      const label = await makeLabel(store, 'ev');
      const start = await store.maxEventId();
      await store.insertApplication(newApp(label.uid, 'alice'), 'new');
      await store.insertApplication(newApp(label.uid, 'carol'), 'new');
      await store.insertApplication(newApp(label.uid, 'alice'), 'new');
      const all = await store.eventsAfter(start, { limit: 100 });
      assert.deepEqual(
        all.map((e) => e.id),
        [start + 1, start + 2, start + 3],
      );
      assert.equal(await store.maxEventId(), start + 3);
      const alice = await store.eventsAfter(start, { limit: 100, owner: 'alice' });
      assert.deepEqual(
        alice.map((e) => e.id),
        [start + 1, start + 3],
      );
      const bounded = await store.eventsAfter(start, { limit: 100, upTo: start + 2 });
      assert.equal(bounded.length, 2);
    });

    test('signals: local commits report their events; queue wake-ups', async () => {
      const label = await makeLabel(store, 'sig');
      const got: StoreSignal[] = [];
      const off = store.onSignal((s) => got.push(s));
      const { event } = await store.insertApplication(newApp(label.uid), 'new');
      off();
      const ev = got.find((s) => s.kind === 'events' && s.events !== undefined);
      assert.ok(ev && ev.kind === 'events');
      assert.equal(ev.lastId, event.id);
      assert.deepEqual(ev.events?.map((e) => e.application_uid), [event.application_uid]);
      assert.ok(got.some((s) => s.kind === 'queue'));
    });

    test('claim: capacity accounting per node, freed capacity is reusable, FIFO order', async () => {
      const label = await makeLabel(store, 'cap');
      await store.upsertNode(nodeRow('capnode'));
      // drain whatever earlier tests left NEW
      const leftovers = await store.listApplications({ limit: 1000, status: 'NEW' });
      await store.transition(leftovers.map((a) => ({ uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() })));
      const apps: ApplicationRow[] = [];
      for (let i = 0; i < 6; i++) apps.push((await store.insertApplication(newApp(label.uid), 'new')).app);
      const first = await store.claim(greedyClaim('capnode', 4));
      assert.deepEqual(
        first.map((c) => c.app.uid),
        apps.slice(0, 4).map((a) => a.uid),
        'the four oldest, in order',
      );
      assert.deepEqual(await store.usage('capnode'), { cpu: 4, ram: 4, drivers: new Map([['test', { cpu: 4, ram: 4 }]]) });
      assert.equal((await store.claim(greedyClaim('capnode', 4))).length, 0, 'full');
      await store.transition([{ uid: apps[0]!.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'done', at: now() }]);
      const third = await store.claim(greedyClaim('capnode', 4));
      assert.deepEqual(
        third.map((c) => c.app.uid),
        [apps[4]!.uid],
      );
      assert.equal((await store.usageByNode()).get('capnode')?.cpu, 4);
      const counts = await store.countByStatus();
      assert.equal(counts.NEW, 1);
      assert.equal(counts.ELECTED, 4);
      // clean up for the next tests
      const mine = await store.applicationsOn('capnode', ['ELECTED']);
      await store.transition(mine.map((a) => ({ uid: a.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'x', at: now() })));
      await store.transition([{ uid: apps[5]!.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() }]);
    });

    test('concurrent claimers over one database: each app elected once, no node ever over capacity', async () => {
      const label = await makeLabel(store, 'race');
      const NODES = ['race-a', 'race-b'];
      const CAP = 5;
      const APPS = 120;
      for (const n of NODES) await store.upsertNode(nodeRow(n));
      const uids = new Set<string>();
      for (let i = 0; i < APPS; i++) uids.add((await store.insertApplication(newApp(label.uid), 'new')).app.uid);
      // four stores (separate connections), two per node name: the node row lock must hold them apart
      const claimers = await Promise.all([0, 1, 2, 3].map(() => openStore(tdb.url)));
      const monitor = await openStore(tdb.url);
      const violations: string[] = [];
      let running = true;
      const watch = (async () => {
        while (running) {
          const usage = await monitor.usageByNode();
          for (const n of NODES) {
            const u = usage.get(n)?.cpu ?? 0;
            if (u > CAP) violations.push(`${n} held ${u} > ${CAP}`);
          }
          await new Promise((r) => setTimeout(r, 2));
        }
      })();
      try {
        const deadline = Date.now() + 60_000;
        await Promise.all(
          claimers.map(async (s, i) => {
            const node = NODES[i % 2]!;
            for (let round = 0; round < 10_000 && Date.now() < deadline; round++) {
              const got = await s.claim(greedyClaim(node, CAP));
              const held = (await s.usage(node)).cpu;
              if (held > CAP) violations.push(`${node} held ${held} after a claim`);
              if (got.length === 0) {
                const left = await s.countByStatus();
                if (!left.NEW && !left.ELECTED) return;
                await new Promise((r) => setTimeout(r, 1 + Math.random() * 3));
                continue;
              }
              await new Promise((r) => setTimeout(r, Math.random() * 3));
              await s.transition(
                got.map((c) => ({
                  uid: c.app.uid,
                  from: ['ELECTED'],
                  to: 'DEALLOCATED',
                  description: 'done',
                  at: now(),
                  onlyNode: node,
                })),
              );
            }
          }),
        );
      } finally {
        running = false;
        await watch;
        await Promise.all(claimers.map((s) => s.close()));
        await monitor.close();
      }
      assert.deepEqual(violations, []);
      for (const uid of uids) {
        const states = await store.listStates(uid);
        assert.deepEqual(
          states.map((s) => s.status),
          ['NEW', 'ELECTED', 'DEALLOCATED'],
          `app ${uid} elected exactly once`,
        );
      }
    });

    test('dead node: its ELECTED applications go back to NEW, unfinished deallocations end; a live node keeps its own', async () => {
      const label = await makeLabel(store, 'dead');
      const old = new Date(Date.now() - 60_000).toISOString();
      await store.upsertNode(nodeRow('dead-node', { heartbeat_at: old }));
      await store.upsertNode(nodeRow('live-node'));
      const a = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const undone = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const held = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const claimed = await store.claim(greedyClaim('dead-node', 10, 3));
      assert.deepEqual(
        claimed.map((c) => c.app.uid),
        [a.uid, undone.uid, held.uid],
      );
      // `undone`: deallocation requested while allocating; `held`: allocated, then deallocation requested
      await store.transition([
        { uid: undone.uid, from: ['ELECTED'], to: 'DEALLOCATE', description: 'requested', at: now() },
        {
          uid: held.uid,
          from: ['ELECTED'],
          to: 'ALLOCATED',
          description: 'ok',
          at: now(),
          insertResource: {
            application_uid: held.uid,
            owner: 'alice',
            node: 'dead-node',
            driver: 'test',
            definition_index: 0,
            hwaddr: 'hw-held',
            ipaddr: '',
            metadata: {},
            expires_at: null,
            created_at: now(),
          },
        },
      ]);
      await store.transition([{ uid: held.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'requested', at: now() }]);
      const b = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const [d] = await store.claim(greedyClaim('live-node', 10, 1));
      assert.equal(d?.app.uid, b.uid);
      const stale = new Date(Date.now() - 20_000).toISOString();
      assert.equal(await store.reelectFromDeadNode('live-node', stale, 're-elect', now()), 0);
      assert.equal(await store.reelectFromDeadNode('dead-node', stale, 'node dead-node stopped answering', now()), 2);
      const back = await store.getApplication(a.uid);
      assert.equal(back?.status, 'NEW');
      assert.equal(back?.node, null);
      assert.equal(back?.status_description, 'node dead-node stopped answering');
      assert.equal((await store.getApplication(undone.uid))?.status, 'DEALLOCATED');
      assert.equal((await store.getApplication(held.uid))?.status, 'DEALLOCATE', 'its resource may still exist: it waits for its node');
      assert.equal((await store.getApplication(b.uid))?.status, 'ELECTED');
      assert.equal((await store.usage('dead-node')).cpu, 1, 'only the held resource still counts');
      await store.transition([
        { uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() },
        { uid: b.uid, from: ['ELECTED'], to: 'DEALLOCATED', description: 'x', at: now() },
        { uid: held.uid, from: ['DEALLOCATE'], to: 'DEALLOCATED', description: 'x', at: now(), deleteResource: true },
      ]);
    });

    test('timeouts: waitExpired and expiredResources', async () => {
      const label = await makeLabel(store, 'timeouts');
      await store.upsertNode(nodeRow('tnode'));
      const past = new Date(Date.now() - 1000).toISOString();
      const future = new Date(Date.now() + 60_000).toISOString();
      const w1 = (await store.insertApplication(newApp(label.uid, 'alice', { wait_deadline: past }), 'new')).app;
      const w2 = (await store.insertApplication(newApp(label.uid, 'alice', { wait_deadline: future }), 'new')).app;
      const expired = await store.waitExpired(now(), 100);
      assert.ok(expired.some((a) => a.uid === w1.uid));
      assert.ok(!expired.some((a) => a.uid === w2.uid));
      await store.transition([
        { uid: w1.uid, from: ['NEW'], to: 'ERROR', description: 'waited too long', at: now() },
        { uid: w2.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() },
      ]);

      const r = (await store.insertApplication(newApp(label.uid), 'new')).app;
      await store.claim(greedyClaim('tnode', 10, 1));
      await store.transition([
        {
          uid: r.uid,
          from: ['ELECTED'],
          to: 'ALLOCATED',
          description: 'ok',
          at: now(),
          insertResource: {
            application_uid: r.uid,
            owner: 'alice',
            node: 'tnode',
            driver: 'test',
            definition_index: 0,
            hwaddr: 'hw-expire',
            ipaddr: '',
            metadata: {},
            expires_at: past,
            created_at: now(),
          },
        },
      ]);
      assert.deepEqual(
        (await store.expiredResources('tnode', now(), 10)).map((x) => x.application_uid),
        [r.uid],
      );
      assert.equal((await store.expiredResources('other', now(), 10)).length, 0);
      await store.transition([{ uid: r.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'expired', at: now() }]);
      assert.equal((await store.expiredResources('tnode', now(), 10)).length, 0, 'only ALLOCATED ones');
    });

    test('concurrent transactions: one failing does not take the others down; ids stay contiguous', async () => {
      const label = await makeLabel(store, 'group');
      await store.upsertNode(nodeRow('gnode'));
      const x = (await store.insertApplication(newApp(label.uid), 'new')).app;
      await store.claim(greedyClaim('gnode', 100, 1));
      const res = {
        application_uid: x.uid,
        owner: 'alice',
        node: 'gnode',
        driver: 'test',
        definition_index: 0,
        hwaddr: 'hw-group',
        ipaddr: '',
        metadata: {},
        expires_at: null,
        created_at: now(),
      };
      await store.transition([{ uid: x.uid, from: ['ELECTED'], to: 'ALLOCATED', description: 'ok', at: now(), insertResource: res }]);
      const start = await store.maxEventId();
      const seen: number[] = [];
      const off = store.onSignal((s) => {
        if (s.kind === 'events' && s.events) seen.push(...s.events.map((e) => e.id));
      });
      // submitted in the same turn: they share a commit where the dialect groups them
      const results = await Promise.allSettled([
        store.insertApplication(newApp(label.uid), 'new'),
        store.insertApplication(newApp(label.uid), 'new'),
        // a second resource row for x: a unique violation
        store.transition([{ uid: x.uid, from: ['ALLOCATED'], to: 'DEALLOCATE', description: 'dup', at: now(), insertResource: res }]),
        store.insertApplication(newApp(label.uid), 'new'),
      ]);
      off();
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
      );
      assert.equal((await store.getApplication(x.uid))?.status, 'ALLOCATED', 'the failed transition left nothing behind');
      assert.deepEqual(
        (await store.listStates(x.uid)).map((s) => s.status),
        ['NEW', 'ELECTED', 'ALLOCATED'],
      );
      assert.equal(await store.maxEventId(), start + 3);
      assert.deepEqual(
        seen.sort((a, b) => a - b),
        [start + 1, start + 2, start + 3],
      );
      const seqs = results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<{ app: ApplicationRow }>).value.app.seq);
      assert.equal(new Set(seqs).size, 3, 'distinct FIFO positions');
      await store.transition([{ uid: x.uid, from: ['ALLOCATED'], to: 'ERROR', description: 'x', at: now(), deleteResource: true }]);
      const fresh = await store.listApplications({ limit: 10, status: 'NEW' });
      await store.transition(fresh.map((a) => ({ uid: a.uid, from: ['NEW'], to: 'DEALLOCATED', description: 'x', at: now() })));
    });

    test('nodes: upsert keeps maintenance, heartbeat, list', async () => {
      await store.upsertNode(nodeRow('mnode'));
      assert.equal(await store.setMaintenance('mnode', true), true);
      await store.upsertNode(nodeRow('mnode', { cpu: 16 }));
      const n = await store.getNode('mnode');
      assert.equal(n?.maintenance, true);
      assert.equal(n?.cpu, 16);
      const hb = new Date(Date.now() + 5000).toISOString();
      await store.heartbeat('mnode', hb);
      assert.equal((await store.getNode('mnode'))?.heartbeat_at, hb);
      assert.ok((await store.listNodes()).some((x) => x.name === 'mnode'));
      assert.equal(await store.setMaintenance('nope', true), false);
    });

    test('tasks: conditional status updates', async () => {
      const label = await makeLabel(store, 'tasks');
      const a = (await store.insertApplication(newApp(label.uid), 'new')).app;
      const uid = randomUUID();
      await store.insertTask({
        uid,
        application_uid: a.uid,
        owner: 'alice',
        task: 'snapshot',
        options: {},
        when: 'NOW',
        status: 'PENDING',
        result: '',
        created_at: now(),
        updated_at: now(),
      });
      assert.equal(await store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), true);
      assert.equal(await store.updateTask(uid, ['PENDING'], 'RUNNING', '', now()), false);
      assert.equal(await store.updateTask(uid, ['RUNNING'], 'DONE', 'snap-1', now()), true);
      assert.equal((await store.getTask(uid))?.result, 'snap-1');
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
    const killed = await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query = $2`,
      [LISTENER_NAME, `LISTEN shoal_${schema}`],
    );
    assert.ok(killed.rowCount! >= 2, 'the listeners were found');
    const deadline = Date.now() + 20_000;
    while (!got.some((s) => s.kind === 'resync') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(got.some((s) => s.kind === 'resync'), 'resync after reconnecting');
    const label = await makeLabel(a, 'relisten');
    const { event } = await a.insertApplication(newApp(label.uid), 'new');
    while (!got.some((s) => s.kind === 'events' && s.lastId === event.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(got.some((s) => s.kind === 'events' && s.lastId === event.id), 'hears the other node again');
  } finally {
    await admin.end();
    await a.close();
    await b.close();
    await tdb.drop();
  }
});

test('store URLs: postgres, sqlite forms, and clear errors', () => {
  assert.deepEqual(describeStoreUrl('postgres://u:p@h/db'), { kind: 'postgres', url: 'postgres://u:p@h/db' });
  assert.deepEqual(describeStoreUrl('sqlite:./data/x.db'), { kind: 'sqlite', path: './data/x.db' });
  assert.deepEqual(describeStoreUrl('sqlite:///tmp/x.db'), { kind: 'sqlite', path: '/tmp/x.db' });
  assert.deepEqual(describeStoreUrl('file:///tmp/y.db'), { kind: 'sqlite', path: '/tmp/y.db' });
  assert.deepEqual(describeStoreUrl('shoal-data/shoal.db'), { kind: 'sqlite', path: 'shoal-data/shoal.db' });
  assert.throws(() => describeStoreUrl('mysql://u:secret@h/db'), (e: Error) => /neither postgres/.test(e.message) && !e.message.includes('secret'));
  assert.throws(() => describeStoreUrl(''), /empty/);
});
