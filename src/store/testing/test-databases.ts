import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The PostgreSQL that tests use; scripts/setup-host.sh creates it. Tests FAIL if it does not answer. */
export const TEST_PG_URL = process.env.SHOAL_TEST_PG_URL ?? 'postgres://shoal:shoal@127.0.0.1:5432/shoal_test';

export const TEST_DIALECTS = ['sqlite', 'postgres'] as const;
export type TestDialect = (typeof TEST_DIALECTS)[number];

export interface TestDatabase {
  /** a URL for openStore(); every store opened on it shares the same data */
  readonly url: string;
  /** removes the database (schema or file) */
  drop(): Promise<void>;
}

/**
 * A fresh, empty database for one test: a temporary SQLite file, or a PostgreSQL schema of its own
 * (so test files running in parallel never see each other's rows).
 */
export async function createTestDatabase(kind: TestDialect): Promise<TestDatabase> {
  if (kind === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-store-'));
    return { url: `sqlite:${join(dir, 'shoal.db')}`, drop: () => rm(dir, { recursive: true, force: true }) };
  }
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(
      `PostgreSQL at ${TEST_PG_URL.replace(/\/\/[^@/]*@/, '//…@')} does not answer` +
        ` (run scripts/setup-host.sh or set SHOAL_TEST_PG_URL): ${(err as Error).message}`,
    );
  }
  try {
    await admin.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.end();
  }
  const sep = TEST_PG_URL.includes('?') ? '&' : '?';
  return {
    url: `${TEST_PG_URL}${sep}schema=${schema}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: TEST_PG_URL });
      await c.connect();
      try {
        await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}
