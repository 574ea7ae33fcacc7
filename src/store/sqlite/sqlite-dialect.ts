import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Sqlite from 'better-sqlite3';
import type { Dialect, Kysely } from 'kysely';
import { kysely } from '../kysely-runtime.js';
import type { StoreDialect } from '../dialect.js';
import type { Database } from '../schema.js';
import { Mutex } from '../../lib/locks.js';
import { SQLITE_CAPABILITIES } from './sqlite-capabilities.js';
import { SqliteDriver } from './sqlite-driver.js';

/** One mutex per database file in this process, with a count of the stores using it. */
const fileMutexes = new Map<string, { mutex: Mutex; users: number }>();

/** Opens SQLite at `path` (":memory:" for a private in-memory database): WAL, synchronous=NORMAL, busy timeout. */
export function openSqliteDialect(path: string): StoreDialect {
  let key: string;
  if (path === ':memory:') {
    key = `:memory:${Math.random()}`;
  } else {
    const abs = resolve(path);
    mkdirSync(dirname(abs), { recursive: true });
    key = abs;
  }
  const db = new Sqlite(path === ':memory:' ? ':memory:' : key);
  if (path !== ':memory:') key = realpathSync(key);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  if (path !== ':memory:') privateDatabaseFiles(key);
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = OFF');

  let entry = fileMutexes.get(key);
  if (!entry) {
    entry = { mutex: new Mutex(), users: 0 };
    fileMutexes.set(key, entry);
  }
  entry.users++;
  const shared = entry;
  const driver = new SqliteDriver(db, shared.mutex);
  const dialect: Dialect = {
    createAdapter: () => new kysely.SqliteAdapter(),
    createDriver: () => driver,
    createIntrospector: (k) => new kysely.SqliteIntrospector(k),
    createQueryCompiler: () => new kysely.SqliteQueryCompiler(),
  };
  const kdb: Kysely<Database> = new kysely.Kysely<Database>({ dialect });
  let closed = false;
  return {
    name: 'sqlite',
    capabilities: SQLITE_CAPABILITIES,
    db: kdb,
    listen: async () => {},
    notify: async () => {},
    close: async () => {
      if (closed) return;
      closed = true;
      await kdb.destroy();
      if (db.open) db.close();
      shared.users--;
      if (shared.users === 0) fileMutexes.delete(key);
    },
  };
}

/**
 * The database, its WAL and shared-memory files are the node's alone (0600), even when an older
 * version or another umask created them readable by others.
 */
function privateDatabaseFiles(dbPath: string): void {
  for (const p of [dbPath, `${dbPath}-wal`, `${dbPath}-shm`]) {
    try {
      chmodSync(p, 0o600);
    } catch {
      // absent (no WAL yet) or not ours to change: the data dir check at start reports the latter
    }
  }
}
