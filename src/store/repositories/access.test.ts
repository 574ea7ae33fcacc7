import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { ConflictError } from '../errors.js';
import { now, storeForSuite } from '../store-test-kit.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';
import type { AccessSessionRow } from '../types.js';

const FP_A = `SHA256:${'A'.repeat(43)}`;
const FP_B = `SHA256:${'B'.repeat(43)}`;

function suite(kind: TestDialect): void {
  describe(`access (keys, sessions) on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('keys: one owner per key, listed per user, removed only by their user and with the user', async () => {
      await db.store.insertUser(
        { id: 'kim.1', name: 'kim', role: 'user', created_at: now() },
        { id: 'k1', user_id: 'kim.1', name: 'initial', hash: 'h', created_at: now(), expires_at: null },
      );
      await db.store.insertUser(
        { id: 'lee.1', name: 'lee', role: 'user', created_at: now() },
        { id: 'k2', user_id: 'lee.1', name: 'initial', hash: 'h', created_at: now(), expires_at: null },
      );
      const key = { key_type: 'ssh-ed25519', public_key: 'ssh-ed25519 AAAA', comment: 'c', created_at: now() };
      await db.store.insertUserKey({ ...key, fingerprint: FP_A, user_name: 'kim' });
      await db.store.insertUserKey({ ...key, fingerprint: FP_B, user_name: 'kim' });
      await assert.rejects(
        db.store.insertUserKey({ ...key, fingerprint: FP_A, user_name: 'lee' }),
        (e: unknown) => e instanceof ConflictError,
      );
      assert.deepEqual(
        (await db.store.listUserKeys('kim')).map((k) => k.fingerprint),
        [FP_A, FP_B],
      );
      assert.deepEqual(await db.store.listUserKeys('lee'), []);
      assert.equal((await db.store.getUserKey(FP_B))?.user_name, 'kim');
      assert.equal(await db.store.deleteUserKey('lee', FP_B), false, "not lee's key");
      assert.equal(await db.store.deleteUserKey('kim', FP_B), true);
      assert.equal(await db.store.getUserKey(FP_B), undefined);
      assert.equal(await db.store.deleteUser('kim.1'), true);
      assert.equal(await db.store.getUserKey(FP_A), undefined, "the user's keys went with the user");
    });

    test('sessions: started, finished once, listed per application in start order with numbers intact', async () => {
      const app = randomUUID();
      const row = (started_at: string): AccessSessionRow => ({
        id: randomUUID(),
        application_uid: app,
        user_name: 'kim',
        source: '127.0.0.1:40000',
        via: 'ssh',
        kind: 'exec',
        node: 'n1',
        started_at,
        ended_at: null,
        exit_status: null,
        bytes_in: 0,
        bytes_out: 0,
      });
      const first = row('2026-01-01T00:00:00.000Z');
      const second = row('2026-01-01T00:00:01.000Z');
      await db.store.insertSession(second);
      await db.store.insertSession(first);
      await db.store.insertSession({ ...row(now()), application_uid: randomUUID() });
      const big = 5 * 2 ** 32; // beyond 32 bits: a BIGINT that must come back as this number
      await db.store.finishSession(first.id, { ended_at: '2026-01-01T00:00:02.000Z', exit_status: 3, bytes_in: big, bytes_out: 7 });
      // a second finish does not overwrite the first
      await db.store.finishSession(first.id, { ended_at: '2026-01-01T00:00:09.000Z', exit_status: 0, bytes_in: 1, bytes_out: 1 });
      const listed = await db.store.listSessions(app, 10);
      assert.deepEqual(
        listed.map((s) => s.id),
        [first.id, second.id],
      );
      assert.deepEqual({ ...listed[0]! }, { ...first, ended_at: '2026-01-01T00:00:02.000Z', exit_status: 3, bytes_in: big, bytes_out: 7 });
      assert.equal(listed[1]!.ended_at, null);
      assert.equal(listed[1]!.exit_status, null);
      assert.equal((await db.store.listSessions(app, 1)).length, 1);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);
