import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { openStore } from '../open-store.js';
import type { Store } from '../store.js';
import { createTestDatabase, type TestDatabase } from '../testing/index.js';

// the query behind an unfiltered `GET /applications` page (listApplications without owner/status)
const FIRST_PAGE = 'select * from applications order by seq desc limit 50';
const LATER_PAGE = 'select * from applications where seq < 1000 order by seq desc limit 50';

describe('unfiltered application lists walk the seq index (no sort of the whole table)', () => {
  let sqlite: TestDatabase;
  let postgres: TestDatabase;
  const stores: Store[] = [];
  before(async () => {
    sqlite = await createTestDatabase('sqlite');
    postgres = await createTestDatabase('postgres');
    stores.push(await openStore(sqlite.url), await openStore(postgres.url)); // migrated to the latest schema
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await sqlite.drop();
    await postgres.drop();
  });

  it('SQLite: the plan scans applications_seq and builds no temporary B-tree for ORDER BY', () => {
    const db = new Database(sqlite.url.replace(/^sqlite:/, ''), { readonly: true });
    try {
      for (const q of [FIRST_PAGE, LATER_PAGE]) {
        const plan = (db.prepare(`explain query plan ${q}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
        assert.match(plan, /applications_seq/, `${q}: ${plan}`);
        assert.doesNotMatch(plan, /TEMP B-TREE/, `${q}: ${plan}`);
      }
    } finally {
      db.close();
    }
  });

  it('PostgreSQL: the plan is a backward index scan of applications_seq, not a sort', async () => {
    const url = new URL(postgres.url);
    const schema = url.searchParams.get('schema');
    assert.ok(schema);
    url.searchParams.delete('schema');
    const c = new pg.Client({ connectionString: url.toString(), options: `-c search_path=${schema}` });
    await c.connect();
    try {
      // an empty table is cheapest to scan sequentially or by bitmap: take those away, so the plan
      // shows whether an index can give the order at all
      await c.query('set enable_seqscan = off');
      await c.query('set enable_bitmapscan = off');
      for (const q of [FIRST_PAGE, LATER_PAGE]) {
        const plan = (await c.query<{ 'QUERY PLAN': string }>(`explain ${q}`)).rows.map((r) => r['QUERY PLAN']).join(' | ');
        assert.match(plan, /Index Scan Backward using applications_seq/, `${q}: ${plan}`);
        assert.doesNotMatch(plan, /Sort/, `${q}: ${plan}`);
      }
    } finally {
      await c.end();
    }
  });
});
