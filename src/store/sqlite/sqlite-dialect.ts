import { chmodSync, mkdirSync, realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
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
  incrementalAutoVacuum(db);

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
    storageSize: async () => {
      if (path === ':memory:') return { database_bytes: 0, wal_bytes: null };
      const [main, wal] = await Promise.all([fileSize(key), fileSize(`${key}-wal`)]);
      return { database_bytes: main, wal_bytes: wal };
    },
    reclaimSpace: async () => {
      let freed = 0;
      // a bounded number of pages per turn, so writes get the connection in between
      for (let round = 0; round < 100_000; round++) {
        const { before, after } = await driver.exclusive((d) => {
          const free = () => Number(d.pragma('freelist_count', { simple: true }));
          const b = free();
          if (b > 0) d.pragma(`incremental_vacuum(${VACUUM_PAGES_PER_TURN})`);
          return { before: b, after: free() };
        });
        freed += before - after;
        if (after === 0 || after >= before) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return freed;
    },
    // the online backup API on the store's own connection: steps run between its statements, and
    // what the node commits meanwhile goes into the copy too (consistent as of the last step)
    ...(path === ':memory:' ? {} : { backup: async (dest: string) => void (await db.backup(dest)) }),
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

/** pages `PRAGMA incremental_vacuum` returns per turn (4 MiB at the default 4 KiB page) */
const VACUUM_PAGES_PER_TURN = 1024;

/**
 * Deleted rows' pages go back to the file system after purges (`PRAGMA incremental_vacuum`):
 * auto_vacuum=INCREMENTAL. A new database takes the mode before its first table; an existing one
 * (made before this setting) is rebuilt once with VACUUM, which needs up to its size again in free
 * space and time (41 MiB took 1.3 s on the 2-core test machine; docs/operations.md).
 */
function incrementalAutoVacuum(db: Sqlite.Database): void {
  const INCREMENTAL = 2;
  if (Number(db.pragma('auto_vacuum', { simple: true })) === INCREMENTAL) return;
  db.pragma('auto_vacuum = INCREMENTAL');
  const pages = Number(db.pragma('page_count', { simple: true }));
  if (pages > 0) db.exec('VACUUM');
}

async function fileSize(p: string): Promise<number> {
  try {
    return (await stat(p)).size;
  } catch {
    return 0;
  }
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
