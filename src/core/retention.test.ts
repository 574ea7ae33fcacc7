import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { describeStoreUrl } from '../store/open-store.js';
import { rawExec, rawQuery, seriesCte } from '../store/testing/bulk-rows.js';
import { TEST_DIALECTS } from '../store/testing/index.js';
import { ADMIN, ALICE, Harness, testLabel, waitFor, waitStatus } from './testing/core-harness.js';

/**
 * Retention: finished applications older than `retention` go with their history, tasks and access
 * sessions, in batches, while the node serves; live and recent ones stay; SQLite gives the space back.
 */

const OLD = 20_000;
const TWO_DAYS_AGO = new Date(Date.now() - 2 * 86_400_000).toISOString();

/** OLD finished applications (half DEALLOCATED, half ERROR) last changed two days ago, each with 3 states, a task and an access session. */
function oldRows(dialect: 'sqlite' | 'postgres', firstSeq: number, firstEvent: number): string[] {
  const w = seriesCte(dialect, OLD);
  const uid = `'old-' || x`;
  return [
    `insert into applications (uid, seq, label_uid, owner, metadata, lifetime, wait_timeout, wait_deadline, created_at, status,
        status_description, status_at, node, driver, definition_index, attempts, cpu, ram)
      ${w} select ${uid}, ${firstSeq} + x, 'label', 'alice', '{"JOB":"a fairly ordinary job description"}', null, null, null,
        '${TWO_DAYS_AGO}', case (x % 2) when 0 then 'DEALLOCATED' else 'ERROR' end, 'done', '${TWO_DAYS_AGO}', 'node-1', 'test', 0, 1, 1, 1 from n`,
    ...[0, 1, 2].map(
      (k) => `insert into application_states (id, application_uid, owner, status, description, created_at)
        ${w} select ${firstEvent} + 3 * x + ${k}, ${uid}, 'alice', 'NEW', 'a state of an old application, state ${k}', '${TWO_DAYS_AGO}' from n`,
    ),
    `insert into tasks (uid, application_uid, owner, task, options, run_when, status, result, created_at, updated_at)
      ${w} select 'task-' || x, ${uid}, 'alice', 'snapshot', '{}', 'NOW', 'DONE', '', '${TWO_DAYS_AGO}', '${TWO_DAYS_AGO}' from n`,
    `insert into access_sessions (id, application_uid, user_name, source, via, kind, node, started_at, ended_at, exit_status, bytes_in, bytes_out)
      ${w} select 'sess-' || x, ${uid}, 'alice', '127.0.0.1', 'ssh', 'shell', 'node-1', '${TWO_DAYS_AGO}', '${TWO_DAYS_AGO}', 0, 10, 20 from n`,
    `update shoal_counters set value = ${firstEvent + 3 * OLD + 3} where name = 'events'`,
    `update shoal_counters set value = ${firstSeq + OLD + 1} where name = 'apps'`,
  ];
}

const count = async (url: string, q: string): Promise<number> => Number((await rawQuery<{ n: number | string }>(url, q))[0]?.n ?? -1);

function sqliteFileBytes(url: string): Promise<number> {
  const where = describeStoreUrl(url);
  if (where.kind !== 'sqlite') throw new Error('not SQLite');
  // the WAL's pages into the file first, so the file is what the database is
  const db = new Database(where.path, { timeout: 30_000 });
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
  return stat(where.path).then((s) => s.size);
}

for (const dialect of TEST_DIALECTS) {
  describe(`retention on ${dialect}`, () => {
    let h: Harness | undefined;
    after(() => h?.close());

    it('deletes old finished applications with their history, tasks and sessions; keeps live and recent ones; SQLite shrinks', async () => {
      h = await Harness.create(dialect);
      const url = h.db.url;
      // retention runs every 200 ms once there is something to delete
      const n = await h.node({ cpu: 8, ram: 16, limits: { retentionMs: 3_600_000, retentionEveryMs: 200, retentionBatch: 500 } });
      const { core } = n;
      const emptyBytes = dialect === 'sqlite' ? await sqliteFileBytes(url) : 0;

      await core.createLabel(ALICE, testLabel('keep'));
      const live = await core.createApplication(ALICE, { label: 'keep' });
      const recent = await core.createApplication(ALICE, { label: 'keep' });
      const oldLive = await core.createApplication(ALICE, { label: 'keep' });
      await waitStatus(core, live.uid, 'ALLOCATED');
      await waitStatus(core, oldLive.uid, 'ALLOCATED');
      await waitStatus(core, recent.uid, 'ALLOCATED');
      await core.deallocate(ALICE, recent.uid);
      await waitStatus(core, recent.uid, 'DEALLOCATED');
      // still running, but unchanged for two days: not finished, so it stays
      await rawExec(url, [`update applications set status_at = '${TWO_DAYS_AGO}' where uid = '${oldLive.uid}'`]);

      const [seqRow] = await rawQuery<{ value: number | string }>(url, "select value from shoal_counters where name = 'apps'");
      const [evRow] = await rawQuery<{ value: number | string }>(url, "select value from shoal_counters where name = 'events'");
      await rawExec(url, oldRows(dialect, Number(seqRow?.value), Number(evRow?.value)));
      const fullBytes = dialect === 'sqlite' ? await sqliteFileBytes(url) : 0;

      await waitFor(
        'retention to delete the old applications',
        async () => (await count(url, "select count(*) as n from applications where uid like 'old-%'")) === 0,
        120_000,
      );
      for (const [table, column] of [
        ['application_states', 'application_uid'],
        ['tasks', 'application_uid'],
        ['access_sessions', 'application_uid'],
      ] as const) {
        assert.equal(
          await count(url, `select count(*) as n from ${table} where ${column} like 'old-%'`),
          0,
          `${table} of old applications`,
        );
      }
      // the API no longer knows them; the live, the recent and the old-but-live ones are all there, with their history
      await assert.rejects(core.getApplication(ADMIN, 'old-2'), (e: unknown) => (e as { code?: string }).code === 'NOT_FOUND');
      const listed = (await core.listApplications(ADMIN, { limit: 1000 })).items.map((a) => a.uid).sort();
      assert.deepEqual(listed, [live.uid, recent.uid, oldLive.uid].sort());
      for (const a of [live, recent, oldLive]) assert.ok((await core.listStates(ALICE, a.uid)).items.length >= 3, `history of ${a.uid}`);
      assert.equal((await core.getState(ALICE, oldLive.uid)).status, 'ALLOCATED');

      if (dialect === 'sqlite') {
        const added = fullBytes - emptyBytes;
        assert.ok(added > 4 * 1024 * 1024, `the old rows took ${added} bytes`);
        // the purge gives the pages back after its last batch (incremental vacuum), the checkpoint truncates the file
        let afterBytes = fullBytes;
        await waitFor(
          `the database file to shrink (from ${fullBytes} bytes; ${emptyBytes} empty)`,
          async () => {
            afterBytes = await sqliteFileBytes(url);
            if (afterBytes < emptyBytes + added / 4) return true;
            await new Promise((r) => setTimeout(r, 100));
            return false;
          },
          30_000,
        );
        assert.ok(afterBytes < fullBytes / 3, `the file went from ${fullBytes} to ${afterBytes} bytes`);
      }
      const metrics = await n.registry.getSingleMetricAsString('shoal_retention_deleted_applications_total');
      assert.match(metrics, new RegExp(`shoal_retention_deleted_applications_total ${OLD}\\b`));
    });
  });
}

describe('SQLite auto_vacuum', () => {
  it('an existing database made without auto_vacuum is switched to INCREMENTAL when it opens (VACUUM once)', async (t) => {
    const h = await Harness.create('sqlite');
    try {
      const where = describeStoreUrl(h.db.url);
      assert.equal(where.kind, 'sqlite');
      if (where.kind !== 'sqlite') return;
      // a database as an older version made it: no auto_vacuum, with 20,000 applications' worth of rows
      const raw = new Database(where.path);
      raw.pragma('journal_mode = WAL');
      raw.exec(`create table filler (id integer primary key, body text not null)`);
      raw.exec(`insert into filler (id, body) ${seriesCte('sqlite', 200_000)} select x, printf('%.200c', 'x') from n`);
      assert.equal(raw.pragma('auto_vacuum', { simple: true }), 0);
      raw.close();
      const bytes = (await stat(where.path)).size;
      const started = performance.now();
      const n = await h.node();
      const ms = performance.now() - started;
      t.diagnostic(`opening a ${(bytes / 2 ** 20).toFixed(1)} MiB database without auto_vacuum (VACUUM included) took ${ms.toFixed(0)} ms`);
      await n.close();
      const check = new Database(where.path, { readonly: true });
      try {
        assert.equal(check.pragma('auto_vacuum', { simple: true }), 2, 'INCREMENTAL');
        assert.equal((check.prepare('select count(*) as n from filler').get() as { n: number }).n, 200_000, 'the data is intact');
      } finally {
        check.close();
      }
    } finally {
      await h.close();
    }
  });
});
