import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Caller } from '../core-service.js';
import { CoreError } from '../errors.js';
import { ADMIN, Harness, testLabel, waitStatus, type TestNode } from '../testing/core-harness.js';

const isCode = (code: string, message?: RegExp) => (e: unknown) =>
  e instanceof CoreError && e.code === code && (message === undefined || message.test(e.message));

/** Creates a user through the core; returns the caller it authenticates as and its token. */
async function newUser(node: TestNode, name: string): Promise<{ caller: Caller; token: string }> {
  const created = await node.core.createUser(ADMIN, { name });
  const caller = await node.core.authenticate(created.token);
  assert.ok(caller);
  return { caller, token: created.token };
}

describe('user lifecycle: ownership by id, deletion, tokens', () => {
  let h: Harness;
  let n: TestNode;
  before(async () => {
    h = await Harness.create('sqlite');
    n = await h.node({ cpu: 3, ram: 6 });
  });
  after(async () => {
    await h.close();
  });

  test('a new user with a deleted user’s name inherits nothing: not its label names, applications or tokens', async () => {
    const { core } = n;
    const old = await newUser(n, 'dana');
    assert.match(old.caller.id, /^dana\.[0-9a-f]{16}$/);
    const label = await core.createLabel(old.caller, testLabel('dana-tools'));
    assert.equal(label.owner, 'dana');
    assert.equal(label.owner_id, old.caller.id);
    const app = await core.createApplication(old.caller, { label: 'dana-tools' });
    await waitStatus(core, app.uid, 'ALLOCATED');
    await core.deleteUser(ADMIN, 'dana', { force: true });
    await waitStatus(core, app.uid, 'DEALLOCATED');
    assert.equal(await core.authenticate(old.token), null, "the deleted user's token");

    const fresh = await newUser(n, 'dana');
    assert.notEqual(fresh.caller.id, old.caller.id, 'a new id');
    assert.equal((await core.listApplications(fresh.caller, {})).items.length, 0, "the old user's applications are not listed");
    await assert.rejects(core.getApplication(fresh.caller, app.uid), isCode('NOT_FOUND'));
    await assert.rejects(
      core.createLabel(fresh.caller, testLabel('dana-tools')),
      isCode('FORBIDDEN', /belongs to dana \(a deleted user/),
      'the old name stays with the deleted user',
    );
    await assert.rejects(core.deleteLabel(fresh.caller, label.uid), isCode('FORBIDDEN'));
    const owner = await core.getLabelOwner(fresh.caller, 'dana-tools');
    assert.equal(owner.owner_id, old.caller.id);
    // an admin gives the name to the new user
    await core.setLabelOwner(ADMIN, 'dana-tools', 'dana');
    const v2 = await core.createLabel(fresh.caller, testLabel('dana-tools'));
    assert.equal(v2.version, 2);
    assert.equal(v2.owner_id, fresh.caller.id);
  });

  test('deleting a user with live work is refused; --force deallocates it, also mid-allocation', async () => {
    const { core } = n;
    const u = await newUser(n, 'erin');
    await core.createLabel(u.caller, testLabel('erin-slow', { options: { delay_allocate: 3000 } }));
    await core.createLabel(u.caller, testLabel('erin-big', { cpu: 2 }));
    const running = await core.createApplication(u.caller, { label: 'erin-big' });
    await waitStatus(core, running.uid, 'ALLOCATED');
    const queued = await core.createApplication(u.caller, { label: 'erin-big' }); // no room: stays NEW
    await assert.rejects(core.deleteUser(ADMIN, 'erin'), isCode('CONFLICT', /user "erin" has 2 live applications .*force/));
    assert.ok(await core.authenticate(u.token), 'a refused deletion changes nothing');
    assert.equal((await core.getState(ADMIN, queued.uid)).status, 'NEW');

    await core.deallocate(u.caller, running.uid);
    await waitStatus(core, queued.uid, 'ALLOCATED');
    const electing = await core.createApplication(u.caller, { label: 'erin-slow' }); // allocating for 3 s
    await waitStatus(core, electing.uid, 'ELECTED');
    const after = await core.createApplication(u.caller, { label: 'erin-big' }); // NEW behind them
    await core.deleteUser(ADMIN, 'erin', { force: true });
    assert.equal((await core.getState(ADMIN, after.uid)).status, 'DEALLOCATED', 'NEW: ended at once');
    assert.equal(await core.authenticate(u.token), null);
    await assert.rejects(core.getUser(ADMIN, 'erin'), isCode('NOT_FOUND'));
    for (const uid of [queued.uid, electing.uid, after.uid]) await waitStatus(core, uid, 'DEALLOCATED');
    assert.equal((await n.driver.listResources()).length, 0, 'nothing left in the driver');
  });

  test('deleting: only admins, never yourself, unknown users are NOT_FOUND', async () => {
    const { core } = n;
    const u = await newUser(n, 'fred');
    await assert.rejects(core.deleteUser(u.caller, 'fred'), isCode('FORBIDDEN'));
    await assert.rejects(core.deleteUser(ADMIN, 'admin'), isCode('CONFLICT'));
    await assert.rejects(core.deleteUser(ADMIN, 'nobody-here'), isCode('NOT_FOUND'));
    await core.deleteUser(ADMIN, 'fred');
    await assert.rejects(core.deleteUser(ADMIN, 'fred'), isCode('NOT_FOUND'));
  });

  test('tokens: create (shown once), list (never the secret), expiry, revoke; users manage only their own', async () => {
    const { core } = n;
    const u = await newUser(n, 'gina');
    const other = await newUser(n, 'hank');
    const ci = await core.createToken(u.caller, 'gina', { name: 'ci-runner', expires_in: '30d' });
    assert.equal(ci.user, 'gina');
    assert.match(ci.token, new RegExp(`^${ci.id}\\.`));
    const days = (Date.parse(ci.expires_at!) - Date.parse(ci.created_at)) / 86_400_000;
    assert.equal(days, 30);
    assert.deepEqual(await core.authenticate(ci.token), u.caller);
    const list = await core.listTokens(u.caller, 'gina');
    assert.deepEqual(
      list.map((t) => [t.name, t.expired]),
      [
        ['initial', false],
        ['ci-runner', false],
      ],
    );
    assert.ok(!JSON.stringify(list).includes(ci.token.split('.')[1]!), 'the secret is never listed');

    // another user's tokens look like an unknown user; an admin manages anyone's
    await assert.rejects(core.listTokens(other.caller, 'gina'), isCode('NOT_FOUND'));
    await assert.rejects(core.createToken(other.caller, 'gina', {}), isCode('NOT_FOUND'));
    await assert.rejects(core.revokeToken(other.caller, 'gina', ci.id), isCode('NOT_FOUND'));
    assert.equal((await core.listTokens(ADMIN, 'gina')).length, 2);

    // bad input names the field
    await assert.rejects(core.createToken(u.caller, 'gina', { expires_in: 'soon' }), isCode('INVALID', /^expires_in:/));
    await assert.rejects(core.createToken(u.caller, 'gina', { name: 'has space' }), isCode('INVALID', /^name:/));
    await assert.rejects(core.revokeToken(u.caller, 'gina', '0123456789abcdef'), isCode('NOT_FOUND'));

    // an expired token is refused (and listed as expired)
    const short = await core.createToken(u.caller, 'gina', { name: 'short', expires_in: '1ms' });
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await core.authenticate(short.token), null);
    assert.equal((await core.listTokens(u.caller, 'gina')).find((t) => t.id === short.id)?.expired, true);

    // revoke: refused from the next request on (also right after a cached check)
    assert.ok(await core.authenticate(ci.token));
    assert.ok(await core.authenticateCached(ci.token), 'cached: no argon2 needed');
    await core.revokeToken(ADMIN, 'gina', ci.id);
    assert.equal(await core.authenticate(ci.token), null);
    assert.equal(await core.authenticateCached(ci.token), undefined);
    assert.ok(await core.authenticate(u.token), 'her other tokens still work');

    // your last token cannot be revoked by yourself (an admin can)
    await core.revokeToken(u.caller, 'gina', short.id);
    const initial = (await core.listTokens(u.caller, 'gina'))[0]!;
    await assert.rejects(core.revokeToken(u.caller, 'gina', initial.id), isCode('CONFLICT', /last token/));
    await core.revokeToken(ADMIN, 'gina', initial.id);
    assert.equal(await core.authenticate(u.token), null);
  });
});

test('cluster on PostgreSQL: a token revoked or a user deleted on one node is refused by the other at the next request', async () => {
  const h = await Harness.create('postgres');
  try {
    // a long cache time: the other node must not rely on it
    const a = await h.node({ name: 'rev-a', limits: { tokenCacheMs: 600_000 } });
    const b = await h.node({ name: 'rev-b', limits: { tokenCacheMs: 600_000 } });
    const created = await a.core.createUser(ADMIN, { name: 'ivan' });
    const caller = await a.core.authenticate(created.token);
    assert.ok(caller);
    const robot = await a.core.createToken(caller, 'ivan', { name: 'robot' });
    for (const t of [created.token, robot.token]) {
      assert.ok(await b.core.authenticate(t), 'b verified it');
      assert.ok(await b.core.authenticateCached(t), 'and cached it');
    }
    await a.core.revokeToken(ADMIN, 'ivan', robot.id);
    assert.equal(await b.core.authenticateCached(robot.token), undefined, 'the cache alone never accepts it');
    assert.equal(await b.core.authenticate(robot.token), null, 'revoked on a: refused on b');
    assert.ok(await b.core.authenticate(created.token));
    await a.core.deleteUser(ADMIN, 'ivan');
    assert.equal(await b.core.authenticate(created.token), null, 'deleted on a: refused on b');
  } finally {
    await h.close();
  }
});
