import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ConflictError } from '../errors.js';
import { kysely } from '../kysely-runtime.js';
import { MIGRATIONS } from '../migrations/index.js';
import { openStore } from '../open-store.js';
import { makeLabel, newApp, now, storeForSuite } from '../store-test-kit.js';
import type { TokenRow, UserRow } from '../store.js';
import { TEST_DIALECTS, type TestDialect } from '../testing/index.js';

const user = (id: string, name: string, role: 'admin' | 'user' = 'user'): UserRow => ({ id, name, role, created_at: now() });
const token = (id: string, userId: string, over: Partial<TokenRow> = {}): TokenRow => ({
  id,
  user_id: userId,
  name: 'initial',
  hash: `h-${id}`,
  created_at: now(),
  expires_at: null,
  ...over,
});

function suite(kind: TestDialect): void {
  describe(`users on ${kind}`, () => {
    const db = storeForSuite(kind);

    test('users: insert with a first token, unique name, lookups by name, id and token id, page, delete', async () => {
      const { store } = db;
      assert.equal(await store.countUsers(), 0);
      await store.insertUser(user('admin.1', 'admin', 'admin'), token('tid1', 'admin.1'));
      await store.insertUser(user('bob.1', 'bob'), token('tid2', 'bob.1'));
      await assert.rejects(
        store.insertUser(user('bob.2', 'bob'), token('tid3', 'bob.2')),
        (e: unknown) => e instanceof ConflictError && e.code === 'CONFLICT' && /bob/.test(e.message),
      );
      assert.equal((await store.getTokenAuth('tid3'))?.user, undefined, 'the refused user left no token behind');
      assert.equal((await store.getTokenAuth('tid2'))?.user.id, 'bob.1');
      assert.equal((await store.getTokenAuth('tid2'))?.token.hash, 'h-tid2');
      assert.equal(await store.getTokenAuth('nope'), undefined);
      assert.equal((await store.getUserById('bob.1'))?.name, 'bob');
      assert.equal((await store.getUser('bob'))?.id, 'bob.1');
      assert.deepEqual(
        (await store.listUsers({ limit: 1 })).map((u) => u.name),
        ['admin'],
      );
      assert.deepEqual(
        (await store.listUsers({ limit: 5, after: 'admin' })).map((u) => u.name),
        ['bob'],
      );
      assert.equal(await store.deleteUser('bob.1'), true);
      assert.equal(await store.deleteUser('bob.1'), false);
      assert.equal(await store.countUsers(), 1);
      assert.equal(await store.getTokenAuth('tid2'), undefined, "a deleted user's tokens are gone with them");
      // the name is free again, for a user with a new id
      await store.insertUser(user('bob.2', 'bob'), token('tid4', 'bob.2'));
      assert.equal((await store.getUser('bob'))?.id, 'bob.2');
    });

    test('tokens: several per user, listed oldest first, deleted one by one and only by their user', async () => {
      const { store } = db;
      await store.insertUser(user('tok.1', 'tok'), token('ta', 'tok.1', { created_at: '2020-01-01T00:00:00.000Z' }));
      await store.insertUser(user('oth.1', 'oth'), token('tz', 'oth.1'));
      await store.insertToken(
        token('tb', 'tok.1', { name: 'ci', created_at: '2020-01-02T00:00:00.000Z', expires_at: '2030-01-01T00:00:00.000Z' }),
      );
      await assert.rejects(store.insertToken(token('tb', 'tok.1')), ConflictError);
      const list = await store.listTokens('tok.1');
      assert.deepEqual(
        list.map((t) => [t.id, t.name, t.expires_at]),
        [
          ['ta', 'initial', null],
          ['tb', 'ci', '2030-01-01T00:00:00.000Z'],
        ],
      );
      assert.equal(await store.deleteToken('oth.1', 'tb'), false, "another user's token");
      assert.equal(await store.deleteToken('tok.1', 'tb'), true);
      assert.equal(await store.deleteToken('tok.1', 'tb'), false);
      assert.equal(await store.getTokenAuth('tb'), undefined);
      assert.deepEqual(
        (await store.listTokens('tok.1')).map((t) => t.id),
        ['ta'],
      );
    });

    test("liveApplicationsOf: an owner's applications in the given statuses, oldest first", async () => {
      const { store } = db;
      const label = await makeLabel(store, `live-${randomUUID().slice(0, 8)}`);
      const a = await store.insertApplication(newApp(label.uid, 'live.1'), 'waiting');
      const b = await store.insertApplication(newApp(label.uid, 'live.1'), 'waiting');
      await store.insertApplication(newApp(label.uid, 'other.1'), 'waiting');
      assert.deepEqual(await store.liveApplicationsOf('live.1', ['NEW'], 10), [a.app.uid, b.app.uid]);
      assert.deepEqual(await store.liveApplicationsOf('live.1', ['NEW'], 1), [a.app.uid]);
      assert.deepEqual(await store.liveApplicationsOf('live.1', ['ALLOCATED'], 10), []);
      assert.deepEqual(await store.liveApplicationsOf('nobody', ['NEW'], 10), []);
    });
  });
}

for (const kind of TEST_DIALECTS) suite(kind);

describe('migration 011 on SQLite: users keep their name as id, their token becomes "initial"', () => {
  test('a database at 004 with users, labels and applications migrates with nothing lost', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-m011-'));
    try {
      const file = join(dir, 'shoal.db');
      const db = new kysely.Kysely<unknown>({ dialect: new kysely.SqliteDialect({ database: new Database(file) }) });
      const before = Object.fromEntries(Object.entries(MIGRATIONS).filter(([name]) => name < '005'));
      const migrator = new kysely.Migrator({ db, provider: { getMigrations: async () => before } });
      const r = await migrator.migrateToLatest();
      assert.equal(r.error, undefined);
      const sql = kysely.sql;
      await sql`insert into users (name, role, token_id, token_hash, created_at) values
        ('carol', 'user', '00000000000000aa', 'hash-a', '2020-01-01T00:00:00.000Z'),
        ('admin', 'admin', '00000000000000bb', 'hash-b', '2020-01-01T00:00:00.000Z')`.execute(db);
      await db.destroy();

      const store = await openStore(`sqlite:${file}`);
      try {
        assert.deepEqual(await store.getUser('carol'), {
          id: 'carol',
          name: 'carol',
          role: 'user',
          created_at: '2020-01-01T00:00:00.000Z',
        });
        const auth = await store.getTokenAuth('00000000000000aa');
        assert.equal(auth?.user.id, 'carol');
        assert.equal(auth?.token.hash, 'hash-a');
        assert.equal(auth?.token.name, 'initial');
        assert.equal(auth?.token.expires_at, null);
        assert.equal((await store.getTokenAuth('00000000000000bb'))?.user.role, 'admin');
        assert.equal(await store.countUsers(), 2);
        // a new user of a name that existed gets refused (names stay unique), another name is taken
        await assert.rejects(store.insertUser(user('carol.9', 'carol'), token('t9', 'carol.9')), ConflictError);
        await store.insertUser(user('dave.1', 'dave'), token('t10', 'dave.1'));
        assert.equal((await store.getUserById('dave.1'))?.name, 'dave');
      } finally {
        await store.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
