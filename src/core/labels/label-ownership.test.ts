import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreError } from '../errors.js';
import { ADMIN, ALICE, BOB, Harness, testLabel, waitStatus, type TestNode } from '../testing/core-harness.js';

const forbiddenBy = (owner: string) => (e: unknown) =>
  e instanceof CoreError &&
  e.code === 'FORBIDDEN' &&
  e.message.includes(`belongs to ${owner}`) &&
  /only its owner or an admin/.test(e.message);

describe('label names are owned', () => {
  let h: Harness;
  let n: TestNode;

  before(async () => {
    h = await Harness.create('sqlite');
    n = await h.node();
  });
  after(async () => {
    await h.close();
  });

  test("another user can neither publish a version of a name nor delete one; the owner's applications use the owner's definition", async () => {
    const { core } = n;
    const v1 = await core.createLabel(ALICE, testLabel('alices', { metadata: { FROM: 'alice' } }));
    assert.equal(v1.owner, 'alice');
    await assert.rejects(core.createLabel(BOB, testLabel('alices', { metadata: { FROM: 'bob' } })), forbiddenBy('alice'));
    await assert.rejects(core.deleteLabel(BOB, v1.uid), forbiddenBy('alice'));
    // nothing of bob's was stored
    const versions = await core.listLabels(BOB, { name: 'alices' });
    assert.deepEqual(
      versions.items.map((l) => [l.version, l.owner, l.metadata.FROM]),
      [[1, 'alice', 'alice']],
    );
    const app = await core.createApplication(ALICE, { label: 'alices', metadata: { SECRET: 's' } });
    await waitStatus(n.core, app.uid, 'ALLOCATED');
    assert.equal(app.label_uid, v1.uid);
    const res = await core.getResource(ALICE, app.uid);
    assert.equal(res.metadata.FROM, 'alice');
    // the driver is told whose label it runs (reused disks are kept per owner)
    const rec = JSON.parse(await readFile(join(n.dataDir, 'resources', `${res.hwaddr.replaceAll(':', '-')}.json`), 'utf8')) as {
      context?: { label?: string; labelOwner?: string; owner?: string };
    };
    assert.deepEqual([rec.context?.label, rec.context?.labelOwner, rec.context?.owner], ['alices', 'alice', 'alice']);
    await core.deallocate(ALICE, app.uid);
    await waitStatus(n.core, app.uid, 'DEALLOCATED');
    // bob may allocate from alice's label; the driver is told it is bob's (his own reused disks)
    const bobs = await core.createApplication(BOB, { label: 'alices' });
    await waitStatus(n.core, bobs.uid, 'ALLOCATED');
    const bobRes = await core.getResource(BOB, bobs.uid);
    const bobRec = JSON.parse(await readFile(join(n.dataDir, 'resources', `${bobRes.hwaddr.replaceAll(':', '-')}.json`), 'utf8')) as {
      context?: { labelOwner?: string; owner?: string };
    };
    assert.deepEqual([bobRec.context?.labelOwner, bobRec.context?.owner], ['alice', 'bob']);
    await core.deallocate(BOB, bobs.uid);
    await waitStatus(n.core, bobs.uid, 'DEALLOCATED');
  });

  test('an admin publishes a version for the owner (owner kept, published_by recorded) and deletes any version', async () => {
    const { core } = n;
    await core.createLabel(ALICE, testLabel('team'));
    const v2 = await core.createLabel(ADMIN, testLabel('team', { metadata: { FROM: 'admin' } }));
    assert.deepEqual([v2.version, v2.owner, v2.published_by], [2, 'alice', 'admin']);
    // alice still owns it: she publishes v3 and may delete the admin's v2
    const v3 = await core.createLabel(ALICE, testLabel('team'));
    assert.equal(v3.published_by, undefined);
    await core.deleteLabel(ALICE, v2.uid);
    await core.deleteLabel(ADMIN, v3.uid);
    assert.deepEqual(
      (await core.listLabels(ALICE, { name: 'team' })).items.map((l) => l.version),
      [1],
    );
  });

  test('a name stays owned after all its versions are deleted; only an admin gives it away', async () => {
    const { core } = n;
    const v1 = await core.createLabel(ALICE, testLabel('gone'));
    await core.deleteLabel(ALICE, v1.uid);
    await assert.rejects(core.createLabel(BOB, testLabel('gone')), forbiddenBy('alice'));
    assert.deepEqual(
      { ...(await core.getLabelOwner(BOB, 'gone')), created_at: '' },
      { name: 'gone', owner: 'alice', owner_id: 'alice', created_at: '' },
    );
    await assert.rejects(core.getLabelOwner(BOB, 'never-published'), (e: unknown) => e instanceof CoreError && e.code === 'NOT_FOUND');
    await assert.rejects(core.setLabelOwner(BOB, 'gone', 'bob'), (e: unknown) => e instanceof CoreError && e.code === 'FORBIDDEN');
    await assert.rejects(core.setLabelOwner(ALICE, 'gone', 'bob'), (e: unknown) => e instanceof CoreError && e.code === 'FORBIDDEN');
    await assert.rejects(core.setLabelOwner(ADMIN, 'gone', 'nobody'), (e: unknown) => e instanceof CoreError && e.code === 'INVALID');
    const bob = await core.authenticate((await core.createUser(ADMIN, { name: 'bob', role: 'user' })).token);
    assert.ok(bob);
    const given = await core.setLabelOwner(ADMIN, 'gone', 'bob');
    assert.deepEqual([given.owner, given.owner_id], ['bob', bob.id], 'given to the user bob, by id');
    await assert.rejects(
      core.createLabel(BOB, testLabel('gone')),
      forbiddenBy('bob'),
      'another caller named bob (another id) does not own it',
    );
    const mine = await core.createLabel(bob, testLabel('gone'));
    assert.deepEqual([mine.version, mine.owner], [2, 'bob']);
    await assert.rejects(core.createLabel(ALICE, testLabel('gone')), forbiddenBy('bob'));
  });
});
