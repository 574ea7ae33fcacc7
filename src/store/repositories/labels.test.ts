import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { LabelNameOwnedError } from '../errors.js';
import { openStore } from '../open-store.js';
import { makeLabel, now, storeForSuite } from '../store-test-kit.js';
import type { Store } from '../store.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

function suite(kind: TestDialect): void {
  describe(`labels on ${kind}`, () => {
    const db = storeForSuite(kind);

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
      const other = await openStore(db.tdb.url);
      try {
        for (let round = 0; round < 4; round++) {
          const name = `owned-${round}`;
          // four users, two stores (two nodes on one database), the same new name at once
          const results = await Promise.allSettled(
            ['alice', 'bob', 'carol', 'dave'].map((u, i) => publish(i % 2 ? other : db.store, name, u)),
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
          assert.equal((await db.store.getLabelName(name))?.owner, owner);
          assert.deepEqual(
            (await db.store.listLabels({ limit: 10, name })).map((l) => [l.version, l.owner, l.metadata.BY]),
            [[1, owner, owner]],
          );
        }
      } finally {
        await other.close();
      }
      const first = await publish(db.store, 'kept', 'alice');
      await assert.rejects(publish(db.store, 'kept', 'bob'), LabelNameOwnedError);
      const byAdmin = await publish(db.store, 'kept', 'root', true);
      assert.deepEqual([byAdmin.version, byAdmin.owner, byAdmin.published_by], [2, 'alice', 'root']);
      assert.deepEqual(
        [(await db.store.getLabel(byAdmin.uid))?.owner, (await db.store.getLabel(byAdmin.uid))?.published_by],
        ['alice', 'root'],
      );
      assert.equal((await db.store.getLabel(first.uid))?.published_by, 'alice');
      // every version deleted: the name is still alice's
      assert.equal(await db.store.deleteLabel(first.uid, now()), true);
      assert.equal(await db.store.deleteLabel(byAdmin.uid, now()), true);
      assert.equal(await db.store.findLabel('kept', 'latest'), undefined);
      await assert.rejects(publish(db.store, 'kept', 'bob'), (e: unknown) => e instanceof LabelNameOwnedError && e.owner === 'alice');
      assert.equal((await publish(db.store, 'kept', 'alice')).version, 3);
      // an admin gives the name to bob: bob publishes, alice no longer can; old versions keep alice
      assert.equal((await db.store.setLabelNameOwner('kept', 'bob', now())).owner, 'bob');
      const bobs = await publish(db.store, 'kept', 'bob');
      assert.deepEqual([bobs.version, bobs.owner], [4, 'bob']);
      await assert.rejects(publish(db.store, 'kept', 'alice'), (e: unknown) => e instanceof LabelNameOwnedError && e.owner === 'bob');
      assert.equal((await db.store.findLabel('kept', 3))?.owner, 'alice');
      // giving a never-published name reserves it
      await db.store.setLabelNameOwner('reserved', 'carol', now());
      await assert.rejects(publish(db.store, 'reserved', 'alice'), LabelNameOwnedError);
    });

    test('labels: versions per name, also when created concurrently; soft delete; latest', async () => {
      const a1 = await makeLabel(db.store, 'alpha');
      const a2 = await makeLabel(db.store, 'alpha');
      const b1 = await makeLabel(db.store, 'beta');
      assert.deepEqual([a1.version, a2.version, b1.version], [1, 2, 1]);
      // concurrent creations (two stores on the same database) get distinct versions
      const other = await openStore(db.tdb.url);
      try {
        const made = await Promise.all(Array.from({ length: 8 }, (_, i) => makeLabel(i % 2 ? other : db.store, 'gamma')));
        assert.deepEqual(
          made.map((l) => l.version).sort((x, y) => x - y),
          [1, 2, 3, 4, 5, 6, 7, 8],
        );
      } finally {
        await other.close();
      }
      assert.equal((await db.store.findLabel('alpha', 'latest'))?.uid, a2.uid);
      assert.equal(await db.store.deleteLabel(a2.uid, now()), true);
      assert.equal(await db.store.deleteLabel(a2.uid, now()), false);
      assert.equal((await db.store.findLabel('alpha', 'latest'))?.uid, a1.uid);
      assert.equal(await db.store.findLabel('alpha', 2), undefined);
      assert.notEqual((await db.store.getLabel(a2.uid))?.deleted_at, null, 'a deleted label can still be read by uid');
      const latest = await db.store.listLabels({ limit: 100, version: 'latest' });
      assert.deepEqual(
        latest.filter((l) => ['alpha', 'beta', 'gamma'].includes(l.name)).map((l) => `${l.name}@${l.version}`),
        ['alpha@1', 'beta@1', 'gamma@8'],
      );
      const paged = await db.store.listLabels({ limit: 3, name: 'gamma', after: { name: 'gamma', version: 2 } });
      assert.deepEqual(
        paged.map((l) => l.version),
        [3, 4, 5],
      );
      assert.deepEqual((await db.store.getLabel(a1.uid))?.definitions[0]?.requirements, { cpu: 1, ram: 1, disks: {}, network: '' });
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
