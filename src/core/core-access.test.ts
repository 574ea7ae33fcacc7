import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreError } from './errors.js';
import { ADMIN, ALICE, BOB, Harness, testLabel, waitStatus, type TestNode } from './testing/core-harness.js';

const isCode = (code: string) => (e: unknown) => e instanceof CoreError && e.code === code;

describe('core users and ownership', () => {
  let h: Harness;
  let n: TestNode;

  before(async () => {
    h = await Harness.create('sqlite');
    n = await h.node();
  });
  after(async () => {
    await h.close();
  });

  test('first start creates admin once; tokens authenticate (Bearer and Basic), hashes only in the store', async () => {
    const { core, store } = n;
    const token = await core.bootstrapAdmin();
    assert.ok(token);
    assert.equal(await core.bootstrapAdmin(), null, 'only the first time');
    const adminId = (await store.getUser('admin'))!.id;
    assert.match(adminId, /^admin\.[0-9a-f]{16}$/);
    assert.deepEqual(await core.authenticate(token), { id: adminId, name: 'admin', role: 'admin' });
    assert.deepEqual(await core.authenticate(token, 'admin'), { id: adminId, name: 'admin', role: 'admin' }, 'basic auth: name + token');
    assert.equal(await core.authenticate(token, 'bob'), null, 'wrong name');
    assert.equal(await core.authenticate(`${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`), null, 'wrong secret');
    assert.equal(await core.authenticate('garbage'), null);
    const row = await store.getTokenAuth(token.split('.')[0]!);
    assert.equal(row?.user.name, 'admin');
    assert.match(row.token.hash, /^\$argon2id\$/);
    assert.ok(!row.token.hash.includes(token.split('.')[1]!));
    // many concurrent checks of the same token: all succeed
    const many = await Promise.all(Array.from({ length: 20 }, () => core.authenticate(token)));
    assert.ok(many.every((c) => c?.name === 'admin'));
  });

  test("users: admins create, list, get and delete; a deleted user's token stops working at once", async () => {
    const { core } = n;
    const carol = await core.createUser(ADMIN, { name: 'carol', role: 'user' });
    assert.equal(carol.role, 'user');
    assert.match(carol.token, /^[0-9a-f]{16}\./);
    await assert.rejects(core.createUser(ADMIN, { name: 'carol' }), isCode('CONFLICT'));
    await assert.rejects(core.createUser(ALICE, { name: 'mallory' }), isCode('FORBIDDEN'));
    await assert.rejects(core.createUser(ADMIN, { name: 'Bad Name' }), isCode('INVALID'));
    await assert.rejects(core.listUsers(ALICE, {}), isCode('FORBIDDEN'));
    const page = await core.listUsers(ADMIN, { limit: 1 });
    assert.equal(page.items.length, 1);
    assert.ok(page.next_cursor);
    const rest = await core.listUsers(ADMIN, { cursor: page.next_cursor });
    assert.ok(rest.items.some((u) => u.name === 'carol'));
    const asCarol = { id: carol.id!, name: 'carol', role: 'user' as const };
    assert.equal((await core.getUser(asCarol, 'carol')).name, 'carol', 'users see themselves');
    await assert.rejects(core.getUser(asCarol, 'admin'), isCode('NOT_FOUND'));
    assert.deepEqual(await core.authenticate(carol.token), asCarol);
    await core.deleteUser(ADMIN, 'carol');
    assert.equal(await core.authenticate(carol.token), null, 'cache dropped with the user');
    await assert.rejects(core.deleteUser(ADMIN, 'carol'), isCode('NOT_FOUND'));
    await assert.rejects(core.deleteUser(ADMIN, 'admin'), isCode('CONFLICT'));
    await assert.rejects(core.listUsers(ADMIN, { cursor: 'not-a-cursor!' }), isCode('INVALID'));
  });

  test("ownership: a user never sees or touches another user's application (NOT_FOUND); admins see all", async () => {
    const { core } = n;
    await core.createLabel(ALICE, testLabel('own'));
    const app = await core.createApplication(ALICE, { label: 'own', metadata: { SECRET: 'x' } });
    await waitStatus(core, app.uid, 'ALLOCATED');
    const bobs = await core.createApplication(BOB, { label: 'own' });
    await waitStatus(core, bobs.uid, 'ALLOCATED');

    for (const call of [
      () => core.getApplication(BOB, app.uid),
      () => core.getState(BOB, app.uid),
      () => core.listStates(BOB, app.uid),
      () => core.getResource(BOB, app.uid),
      () => core.deallocate(BOB, app.uid),
      () => core.listTasks(BOB, app.uid),
      () => core.createTask(BOB, app.uid, { task: 'snapshot' }),
      () => core.getConsole(BOB, app.uid),
    ]) {
      await assert.rejects(call(), (e: unknown) => isCode('NOT_FOUND')(e) && (e as Error).message === `application ${app.uid} not found`);
    }
    // same message as an unknown uid: existence does not leak
    await assert.rejects(core.getApplication(BOB, '00000000-0000-4000-8000-000000000000'), (e: unknown) => isCode('NOT_FOUND')(e));
    await assert.rejects(core.getApplication(BOB, 'not-a-uid'), isCode('NOT_FOUND'));

    const bobList = await core.listApplications(BOB, {});
    assert.deepEqual(
      bobList.items.map((a) => a.uid),
      [bobs.uid],
    );
    const bobRes = await core.listResources(BOB, {});
    assert.deepEqual(
      bobRes.items.map((r) => r.application_uid),
      [bobs.uid],
    );
    const all = await core.listApplications(ADMIN, {});
    assert.ok(all.items.some((a) => a.uid === app.uid) && all.items.some((a) => a.uid === bobs.uid));
    assert.equal((await core.getResource(ADMIN, app.uid)).application_uid, app.uid);
    assert.equal((await core.getState(ALICE, app.uid)).status, 'ALLOCATED', 'untouched by bob');

    // pagination of applications: newest first, cursor continues
    const p1 = await core.listApplications(ADMIN, { limit: 1 });
    assert.equal(p1.items[0]!.uid, bobs.uid);
    const p2 = await core.listApplications(ADMIN, { limit: 1, cursor: p1.next_cursor! });
    assert.equal(p2.items[0]!.uid, app.uid);
    assert.deepEqual(
      (await core.listApplications(ALICE, { status: 'ALLOCATED' })).items.map((a) => a.uid),
      [app.uid],
    );
    await assert.rejects(core.listApplications(ALICE, { status: 'SLEEPING' }), isCode('INVALID'));

    await core.deallocate(ADMIN, app.uid);
    await core.deallocate(BOB, bobs.uid);
    await waitStatus(core, app.uid, 'DEALLOCATED');
    await waitStatus(core, bobs.uid, 'DEALLOCATED');
    assert.match((await core.listStates(ALICE, app.uid)).items.find((s) => s.status === 'DEALLOCATE')!.description, /requested by admin/);
  });

  test('nodes: this node, list, maintenance is admin-only and stops new work', async () => {
    const { core } = n;
    const me = await core.thisNode(ALICE);
    assert.equal(me.name, 'node-1');
    assert.equal(me.alive, true);
    assert.deepEqual(me.capacity, { cpu: 4, ram: 8, cpu_overbook: 1, ram_overbook: 1 });
    assert.equal(me.drivers[0]!.instance, 'test');
    assert.equal(me.drivers[0]!.health, 'healthy');
    assert.ok((await core.listNodes(ALICE)).some((x) => x.name === 'node-1'));
    await assert.rejects(core.setMaintenance(ALICE, true), isCode('FORBIDDEN'));
    assert.equal((await core.setMaintenance(ADMIN, true)).maintenance, true);
    // the sentinel: a second node too small for 'maint' (cpu 2) takes 'small' (cpu 1), created
    // after it; once that is ALLOCATED, claim passes have run past the 'maint' application
    const small = await h.node({ name: 'small-node', cpu: 1 });
    try {
      await core.createLabel(ALICE, testLabel('maint', { cpu: 2 }));
      await core.createLabel(ALICE, testLabel('small', { cpu: 1 }));
      const app = await core.createApplication(ALICE, { label: 'maint' });
      const sentinel = await core.createApplication(ALICE, { label: 'small' });
      await waitStatus(core, sentinel.uid, 'ALLOCATED');
      assert.match((await core.listStates(ALICE, sentinel.uid)).items.find((s) => s.status === 'ELECTED')!.description, /small-node/);
      assert.equal((await core.getState(ALICE, app.uid)).status, 'NEW', 'no work taken in maintenance');
      const offAt = new Date().toISOString();
      assert.equal((await core.setMaintenance(ADMIN, false)).maintenance, false);
      await waitStatus(core, app.uid, 'ALLOCATED');
      const elected = (await core.listStates(ALICE, app.uid)).items.find((s) => s.status === 'ELECTED')!;
      assert.match(elected.description, /node-1/);
      assert.ok(elected.created_at >= offAt, `elected at ${elected.created_at}, maintenance ended at ${offAt}`);
      const busy = await core.thisNode(ADMIN);
      assert.deepEqual(busy.used, { cpu: 2, ram: 1 });
      await core.deallocate(ALICE, app.uid);
      await core.deallocate(ALICE, sentinel.uid);
      await waitStatus(core, app.uid, 'DEALLOCATED');
      await waitStatus(core, sentinel.uid, 'DEALLOCATED');
    } finally {
      await small.close();
    }
  });

  test('a node that stopped is shown as not alive at once', async () => {
    const other = await h.node({ name: 'leaving' });
    assert.equal((await n.core.listNodes(ADMIN)).find((x) => x.name === 'leaving')?.alive, true);
    await other.close();
    assert.equal((await n.core.listNodes(ADMIN)).find((x) => x.name === 'leaving')?.alive, false);
  });
});
