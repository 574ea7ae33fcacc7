import { fileURLToPath } from 'node:url';
import { StoreError } from './errors.js';
import { openKyselyStore } from './kysely-store.js';
import type { Store } from './store.js';

export interface StoreOptions {
  /** called with errors of background connections (PostgreSQL listener, idle pool clients) */
  onError?: (err: Error) => void;
  /** PostgreSQL pool size (default 10) */
  poolSize?: number;
}

/**
 * Where the database is:
 * - `postgres://user:pass@host:port/db[?schema=NAME]` (or `postgresql://`): PostgreSQL, shared by many nodes;
 * - `sqlite:PATH`, `sqlite://PATH`, `file:///PATH`, `sqlite::memory:` or a plain file path: embedded SQLite.
 */
export function describeStoreUrl(url: string): { kind: 'postgres'; url: string } | { kind: 'sqlite'; path: string } {
  if (/^postgres(ql)?:\/\//i.test(url)) return { kind: 'postgres', url };
  if (/^sqlite:/i.test(url)) {
    let rest = url.slice('sqlite:'.length);
    if (rest.startsWith('//')) rest = rest.slice(2);
    if (rest === '') throw new StoreError('UNSUPPORTED_URL', `"${url}" names no SQLite file (try sqlite:./shoal-data/shoal.db)`);
    return { kind: 'sqlite', path: rest };
  }
  if (/^file:/i.test(url)) return { kind: 'sqlite', path: fileURLToPath(url) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new StoreError('UNSUPPORTED_URL', `database URL "${url.replace(/\/\/[^@/]*@/, '//…@')}" is neither postgres:// nor sqlite:`);
  }
  if (url === '') throw new StoreError('UNSUPPORTED_URL', 'database URL is empty');
  return { kind: 'sqlite', path: url };
}

/** Opens the store and brings its schema up to date. */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  const where = describeStoreUrl(url);
  // each dialect's client library is loaded only when used (pg alone is ~15 MB of RSS)
  if (where.kind === 'sqlite') {
    const { openSqliteDialect } = await import('./sqlite/sqlite-dialect.js');
    return openKyselyStore(openSqliteDialect(where.path));
  }
  const { openPostgresDialect, parsePostgresUrl } = await import('./postgres/postgres-dialect.js');
  let parsed: ReturnType<typeof parsePostgresUrl>;
  try {
    parsed = parsePostgresUrl(where.url);
  } catch (err) {
    throw new StoreError('UNSUPPORTED_URL', (err as Error).message);
  }
  const { connectionString, schema } = parsed;
  const dialect = await openPostgresDialect(connectionString, {
    ...(schema === undefined ? {} : { schema }),
    ...(options.poolSize === undefined ? {} : { poolSize: options.poolSize }),
    ...(options.onError === undefined ? {} : { onError: options.onError }),
  });
  return openKyselyStore(dialect);
}
