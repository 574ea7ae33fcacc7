import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from './open-store.js';
import type { Store } from './store.js';
import { pgClient, rawExec, seriesCte } from './testing/bulk-rows.js';
import { createTestDatabase, TEST_DIALECTS, type TestDatabase } from './testing/index.js';

/**
 * Every list the API pages through is a keyset page on an index: with 100,000 rows, the first and
 * the last page take the same plan (an index seek or an ordered index scan, never a sort or a
 * scan of the table), and a full walk through the store's list methods returns every row once.
 */

const N = 100_000;
const PAGE = 1000;
const DEEP = 'deep-app-0000-0000-0000-000000000000';
const T0 = '2026-01-01T00:00:00.000Z';

/** name-sortable keys: k-000001 … k-100000 */
const key = (prefix: string, x: string, dialect: 'sqlite' | 'postgres') =>
  dialect === 'postgres' ? `'${prefix}' || lpad((${x})::text, 6, '0')` : `'${prefix}' || substr('000000' || (${x}), -6, 6)`;

function seed(dialect: 'sqlite' | 'postgres'): string[] {
  const w = seriesCte(dialect, N);
  const owner = `case (x % 2) when 0 then 'alice' else 'bob' end`;
  const status = `case (x % 3) when 0 then 'DEALLOCATED' when 1 then 'ALLOCATED' else 'ERROR' end`;
  return [
    `insert into applications (uid, seq, label_uid, owner, metadata, lifetime, wait_timeout, wait_deadline, created_at, status,
        status_description, status_at, node, driver, definition_index, attempts, cpu, ram)
      ${w} select ${key('app-', 'x', dialect)}, x, 'label', ${owner}, '{}', null, null, null, '${T0}', ${status}, '', '${T0}',
        'node-1', 'test', 0, 1, 1, 1 from n`,
    `insert into application_states (id, application_uid, owner, status, description, created_at)
      ${w} select x, '${DEEP}', 'alice', 'NEW', 'state ' || x, '${T0}' from n`,
    `insert into tasks (uid, application_uid, owner, task, options, run_when, status, result, created_at, updated_at)
      ${w} select ${key('task-', 'x', dialect)}, '${DEEP}', 'alice', 'snapshot', '{}', 'NOW', 'DONE', '',
        '2026-01-01T00:00:' || ${key('', 'x % 60', dialect)}, '${T0}' from n`,
    `insert into labels (uid, name, version, definitions, metadata, lifetime, wait_timeout, owner, created_at, deleted_at)
      ${w} select ${key('lu-', 'x', dialect)}, ${key('label-', '(x + 1) / 2', dialect)}, 1 + (x % 2), '[]', '{}', null, null, 'alice', '${T0}', null from n`,
    `insert into users (id, name, role, created_at)
      ${w} select ${key('uid-', 'x', dialect)}, ${key('user-', 'x', dialect)}, 'user', '${T0}' from n`,
    `insert into resources (application_uid, owner, node, driver, definition_index, hwaddr, ipaddr, metadata, expires_at, created_at)
      ${w} select ${key('app-', 'x', dialect)}, ${owner}, 'node-1', 'test', 0, 'hw', 'ip', '{}', null, '${T0}' from n`,
  ];
}

interface PlanCase {
  what: string;
  first: string;
  last: string;
  /** the index (or primary key) the plan must use (where the planner may take either of two, both give the order) */
  index: { sqlite: RegExp; postgres: RegExp };
}

const CASES: PlanCase[] = [
  {
    what: 'applications (admin, unfiltered)',
    first: 'select * from applications order by seq desc limit 100',
    last: 'select * from applications where seq < 150 order by seq desc limit 100',
    index: { sqlite: /applications_seq\b/, postgres: /applications_seq\b/ },
  },
  {
    what: "applications (a user's)",
    first: "select * from applications where owner = 'alice' order by seq desc limit 100",
    last: "select * from applications where owner = 'alice' and seq < 300 order by seq desc limit 100",
    index: { sqlite: /applications_owner_seq|applications_seq/, postgres: /applications_owner_seq|applications_seq/ },
  },
  {
    what: 'applications (by status)',
    first: "select * from applications where status = 'ERROR' order by seq desc limit 100",
    last: "select * from applications where status = 'ERROR' and seq < 400 order by seq desc limit 100",
    index: { sqlite: /applications_status_seq|applications_seq/, postgres: /applications_status_seq|applications_seq/ },
  },
  {
    what: 'labels',
    first: 'select l.* from labels as l where l.deleted_at is null order by l.name, l.version limit 100',
    last: "select l.* from labels as l where l.deleted_at is null and (l.name, l.version) > ('label-049950', 1) order by l.name, l.version limit 100",
    index: { sqlite: /sqlite_autoindex_labels_\d/, postgres: /labels_name_version/ },
  },
  {
    what: 'users',
    first: 'select * from users order by name limit 100',
    last: "select * from users where name > 'user-099900' order by name limit 100",
    index: { sqlite: /users_name/, postgres: /users_name/ },
  },
  {
    what: 'resources (admin)',
    first: 'select * from resources order by application_uid limit 100',
    last: "select * from resources where application_uid > 'app-099900' order by application_uid limit 100",
    index: { sqlite: /sqlite_autoindex_resources_1|PRIMARY KEY/, postgres: /resources_pkey/ },
  },
  {
    what: "resources (a user's)",
    first: "select * from resources where owner = 'bob' order by application_uid limit 100",
    last: "select * from resources where owner = 'bob' and application_uid > 'app-099800' order by application_uid limit 100",
    index: { sqlite: /resources_owner|sqlite_autoindex_resources_1/, postgres: /resources_owner|resources_pkey/ },
  },
  {
    what: "an application's state history",
    first: `select * from application_states where application_uid = '${DEEP}' order by id limit 100`,
    last: `select * from application_states where application_uid = '${DEEP}' and id > 99900 order by id limit 100`,
    // every row is this application's: the primary key gives the order as well
    index: { sqlite: /application_states_app_id|PRIMARY KEY/, postgres: /application_states_app_id|application_states_pkey/ },
  },
  {
    what: "an application's tasks",
    first: `select * from tasks where application_uid = '${DEEP}' order by created_at, uid limit 100`,
    last: `select * from tasks where application_uid = '${DEEP}' and (created_at, uid) > ('2026-01-01T00:00:000059', 'task-099000') order by created_at, uid limit 100`,
    index: { sqlite: /tasks_app_created_uid/, postgres: /tasks_app_created_uid/ },
  },
];

async function walk<T, K>(page: (after: K | undefined) => Promise<T[]>, keyOf: (row: T) => K, id: (row: T) => string): Promise<string[]> {
  const ids: string[] = [];
  let after: K | undefined;
  for (let i = 0; i < N / PAGE + 5; i++) {
    const rows = await page(after);
    ids.push(...rows.map(id));
    if (rows.length < PAGE) return ids;
    after = keyOf(rows.at(-1)!);
  }
  throw new Error('the walk did not end');
}

function assertEveryOnce(ids: readonly string[], count: number, what: string): void {
  assert.equal(ids.length, count, `${what}: ${ids.length} rows walked`);
  assert.equal(new Set(ids).size, count, `${what}: a row came twice`);
}

for (const dialect of TEST_DIALECTS) {
  describe(`keyset pages on ${dialect} with ${N} rows`, () => {
    let db: TestDatabase;
    let store: Store;
    before(async () => {
      db = await createTestDatabase(dialect);
      store = await openStore(db.url);
      await rawExec(db.url, seed(dialect));
    });
    after(async () => {
      await store.close();
      await db.drop();
    });

    it('the first and the last page of every list take the same index, with no sort and no table scan', async () => {
      const plans: Array<{ what: string; first: string; last: string }> = [];
      if (dialect === 'sqlite') {
        const raw = new Database(db.url.replace(/^sqlite:/, ''), { timeout: 30_000 });
        try {
          raw.exec('analyze');
          const plan = (q: string) =>
            (raw.prepare(`explain query plan ${q}`).all() as Array<{ detail: string }>).map((r) => r.detail).join(' | ');
          for (const c of CASES) plans.push({ what: c.what, first: plan(c.first), last: plan(c.last) });
        } finally {
          raw.close();
        }
      } else {
        const c = await pgClient(db.url);
        try {
          await c.query('analyze');
          const plan = async (q: string) =>
            (await c.query<{ 'QUERY PLAN': string }>(`explain ${q}`)).rows.map((r) => r['QUERY PLAN']).join(' | ');
          for (const k of CASES) plans.push({ what: k.what, first: await plan(k.first), last: await plan(k.last) });
        } finally {
          await c.end();
        }
      }
      for (const [i, p] of plans.entries()) {
        const index = CASES[i]!.index[dialect];
        const used = (plan: string) => /(?:INDEX|using) (\w+)/.exec(plan)?.[1];
        assert.equal(used(p.last), used(p.first), `${p.what}: the last page takes another index than the first: ${p.first} / ${p.last}`);
        for (const [which, plan] of [
          ['first', p.first],
          ['last', p.last],
        ] as const) {
          const msg = `${p.what}, ${which} page: ${plan}`;
          assert.match(plan, index, msg);
          if (dialect === 'sqlite') {
            assert.doesNotMatch(plan, /TEMP B-TREE/, msg);
            // a SCAN is allowed only in index order (USING … INDEX / PRIMARY KEY), never of the table
            for (const step of plan.split(' | ')) if (/^SCAN /.test(step)) assert.match(step, /USING/, msg);
          } else {
            assert.doesNotMatch(plan, /\bSort\b|Seq Scan|Bitmap Heap Scan/, msg);
            assert.match(plan, /Index (Only )?Scan/, msg);
          }
        }
      }
    });

    it('a walk through every list returns each row once', async () => {
      const apps = await walk(
        (before: number | undefined) => store.listApplications({ limit: PAGE, ...(before === undefined ? {} : { beforeSeq: before }) }),
        (r) => r.seq,
        (r) => r.uid,
      );
      assertEveryOnce(apps, N, 'applications');
      const alices = await walk(
        (before: number | undefined) =>
          store.listApplications({ limit: PAGE, owner: 'alice', ...(before === undefined ? {} : { beforeSeq: before }) }),
        (r) => r.seq,
        (r) => r.uid,
      );
      assertEveryOnce(alices, N / 2, "alice's applications");
      const labels = await walk(
        (after: { name: string; version: number } | undefined) =>
          store.listLabels({ limit: PAGE, ...(after === undefined ? {} : { after }) }),
        (r) => ({ name: r.name, version: r.version }),
        (r) => r.uid,
      );
      assertEveryOnce(labels, N, 'labels');
      const users = await walk(
        (after: string | undefined) => store.listUsers({ limit: PAGE, ...(after === undefined ? {} : { after }) }),
        (r) => r.name,
        (r) => r.name,
      );
      assertEveryOnce(users, N, 'users');
      const resources = await walk(
        (after: string | undefined) => store.listResources({ limit: PAGE, ...(after === undefined ? {} : { after }) }),
        (r) => r.application_uid,
        (r) => r.application_uid,
      );
      assertEveryOnce(resources, N, 'resources');
      const states = await walk(
        (afterId: number | undefined) => store.listStates(DEEP, { limit: PAGE, ...(afterId === undefined ? {} : { afterId }) }),
        (r) => r.id,
        (r) => String(r.id),
      );
      assertEveryOnce(states, N, 'states');
      const tasks = await walk(
        (after: { created_at: string; uid: string } | undefined) =>
          store.listTasks(DEEP, { limit: PAGE, ...(after === undefined ? {} : { after }) }),
        (r) => ({ created_at: r.created_at, uid: r.uid }),
        (r) => r.uid,
      );
      assertEveryOnce(tasks, N, 'tasks');
    });
  });
}
