import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Migration } from 'kysely';
import { kysely } from '../kysely-runtime.js';
import type { StoreDialect } from '../dialect.js';
import { describeStoreUrl, openStore } from '../open-store.js';
import { rawExec } from '../testing/bulk-rows.js';
import { createTestDatabase, TEST_DIALECTS, type TestDatabase } from '../testing/index.js';
import { MIGRATIONS } from './index.js';

/**
 * Every migration is tested from the schema just before it, with data: the database is migrated to
 * N-1, filled with representative rows (as the code of that time wrote them), then opened by
 * the current store (which migrates to the latest) — the rows must read back intact through the
 * store, and the store must be usable on them (new rows, claims of old NEW applications).
 */

const NAMES = Object.keys(MIGRATIONS).sort();
const T = '2026-01-01T00:00:00.000Z';

async function openDialect(url: string): Promise<StoreDialect> {
  const where = describeStoreUrl(url);
  if (where.kind === 'sqlite') return (await import('../sqlite/sqlite-dialect.js')).openSqliteDialect(where.path);
  const { openPostgresDialect, parsePostgresUrl } = await import('../postgres/postgres-dialect.js');
  const { connectionString, schema } = parsePostgresUrl(where.url);
  return openPostgresDialect(connectionString, schema === undefined ? {} : { schema });
}

/** Migrates the database to (and including) `last` only. */
async function migrateUpTo(url: string, last: string): Promise<void> {
  const d = await openDialect(url);
  try {
    const subset: Record<string, Migration> = {};
    for (const n of NAMES) if (n <= last) subset[n] = MIGRATIONS[n]!;
    const migrator = new kysely.Migrator({
      db: d.db,
      provider: { getMigrations: async () => subset },
      ...(d.migrationTableSchema ? { migrationTableSchema: d.migrationTableSchema } : {}),
    });
    let { error } = await migrator.migrateToLatest();
    // another test dropping its schema at that moment fails Kysely's table listing (3F000): again, as the store does
    for (let attempt = 1; attempt < 5 && (error as { code?: unknown } | undefined)?.code === '3F000'; attempt++) {
      await new Promise((r) => setTimeout(r, 20 * attempt));
      ({ error } = await migrator.migrateToLatest());
    }
    if (error) throw error instanceof Error ? error : new Error(`migrating to ${last} failed: ${JSON.stringify(error)}`);
  } finally {
    await d.close();
  }
}

/** Rows as the code of schema `upTo` wrote them (only tables and columns that exist then). */
function representativeRows(upTo: string): string[] {
  const has = (m: string) => upTo >= m;
  const defs = JSON.stringify([{ driver: 'test', options: {}, requirements: { cpu: 1, ram: 1, disks: {}, network: '' } }]);
  const rows = [
    `insert into users (name, role, token_id, token_hash, created_at) values ('alice', 'user', 'tid-alice', 'hash-alice', '${T}')`,
    `insert into labels (uid, name, version, definitions, metadata, lifetime, wait_timeout, owner, created_at, deleted_at)
       values ('lbl-1', 'tiny', 1, '${defs}', '{"A":"1"}', '2h', null, 'alice', '${T}', null),
              ('lbl-2', 'tiny', 2, '${defs}', '{"A":"2"}', null, null, 'alice', '${T}', null)`,
    // one finished, one allocated (with its resource and a task), one waiting
    `insert into applications (uid, seq, label_uid, owner, metadata, lifetime, wait_timeout, wait_deadline, created_at, status,
        status_description, status_at, node, driver, definition_index, attempts, cpu, ram) values
       ('app-done', 1, 'lbl-1', 'alice', '{"JOB":"1"}', null, null, null, '${T}', 'DEALLOCATED', 'done', '${T}', 'node-1', 'test', 0, 1, 1, 1),
       ('app-live', 2, 'lbl-2', 'alice', '{"JOB":"2"}', '1h', null, null, '${T}', 'ALLOCATED', 'up', '${T}', 'node-1', 'test', 0, 1, 1, 1),
       ('app-new', 3, 'lbl-2', 'alice', '{"JOB":"3"}', null, null, null, '${T}', 'NEW', 'waiting', '${T}', null, null, 0, 0, 1, 1)`,
    `insert into application_states (id, application_uid, owner, status, description, created_at) values
       (1, 'app-done', 'alice', 'NEW', 'created', '${T}'), (2, 'app-done', 'alice', 'DEALLOCATED', 'done', '${T}'),
       (3, 'app-live', 'alice', 'NEW', 'created', '${T}'), (4, 'app-live', 'alice', 'ALLOCATED', 'up', '${T}'),
       (5, 'app-new', 'alice', 'NEW', 'waiting', '${T}')`,
    `update shoal_counters set value = 5 where name = 'events'`,
    `insert into resources (application_uid, owner, node, driver, definition_index, hwaddr, ipaddr, metadata, expires_at, created_at)
       values ('app-live', 'alice', 'node-1', 'test', 0, '02:00:00:00:00:01', '127.1.0.1', '{"JOB":"2"}', '2030-01-01T00:00:00.000Z', '${T}')`,
    `insert into tasks (uid, application_uid, owner, task, options, run_when, status, result, created_at, updated_at)
       values ('task-1', 'app-live', 'alice', 'snapshot', '{}', 'DEALLOCATE', 'PENDING', '', '${T}', '${T}')`,
    `insert into nodes (name, address, cpu, ram, cpu_overbook, ram_overbook, tags, drivers, heartbeat_at, started_at, maintenance)
       values ('node-1', 'https://node-1:8001', 4, 8, 1, 1, '{"os":"linux"}', '[]', '${T}', '${T}', 0)`,
  ];
  if (has('002-apps-counter')) rows.push(`update shoal_counters set value = 3 where name = 'apps'`);
  if (has('003-label-names')) rows.push(`insert into label_names (name, owner, created_at) values ('tiny', 'alice', '${T}')`);
  if (has('009-access')) {
    rows.push(
      `insert into user_keys (fingerprint, user_name, key_type, public_key, comment, created_at)
         values ('SHA256:abc', 'alice', 'ssh-ed25519', 'AAAAC3NzaC1lZDI1NTE5AAAAIExample', 'laptop', '${T}')`,
      `insert into access_sessions (id, application_uid, user_name, source, via, kind, node, started_at, ended_at, exit_status, bytes_in, bytes_out)
         values ('sess-1', 'app-live', 'alice', '127.0.0.1', 'ssh', 'shell', 'node-1', '${T}', '${T}', 0, 10, 20)`,
    );
  }
  return rows;
}

for (const dialect of TEST_DIALECTS) {
  describe(`migrations on ${dialect}: each from the schema before it, with data`, () => {
    const dbs: TestDatabase[] = [];
    after(async () => {
      for (const d of dbs) await d.drop();
    });

    for (const [i, name] of NAMES.entries()) {
      if (i === 0) continue;
      const previous = NAMES[i - 1]!;
      it(`${name}: from ${previous} with data, to the latest`, async () => {
        const db = await createTestDatabase(dialect);
        dbs.push(db);
        await migrateUpTo(db.url, previous);
        await rawExec(db.url, representativeRows(previous));

        const store = await openStore(db.url); // migrates to the latest
        try {
          // intact
          const alice = await store.getUser('alice');
          assert.equal(alice?.name, 'alice');
          const latest = await store.findLabel('tiny', 'latest');
          assert.equal(latest?.uid, 'lbl-2');
          assert.deepEqual(latest.metadata, { A: '2' });
          assert.ok(
            ['alice', alice.id].includes((await store.getLabelName('tiny'))?.owner ?? ''),
            'label names are owned (003 derives them)',
          );
          const live = await store.getApplication('app-live');
          assert.equal(live?.status, 'ALLOCATED');
          assert.deepEqual(live.metadata, { JOB: '2' });
          assert.deepEqual(
            (await store.listStates('app-done')).map((s) => [s.id, s.status]),
            [
              [1, 'NEW'],
              [2, 'DEALLOCATED'],
            ],
          );
          assert.equal((await store.getResource('app-live'))?.ipaddr, '127.1.0.1');
          assert.deepEqual(
            (await store.listTasks('app-live')).map((t) => t.uid),
            ['task-1'],
          );
          const node = await store.getNode('node-1');
          assert.equal(node?.cpu, 4);
          assert.equal(node.lost_at, null);
          assert.equal(await store.maxEventId(), 5);
          if (previous >= '009-access') assert.equal((await store.listSessions('app-live', 10)).length, 1);

          // usable: a new application goes after the old ones, its state after the old events
          const created = await store.insertApplication(
            {
              uid: randomUUID(),
              label_uid: 'lbl-2',
              owner: 'alice',
              metadata: {},
              lifetime: null,
              wait_timeout: null,
              wait_deadline: null,
              created_at: new Date().toISOString(),
            },
            'created after the upgrade',
          );
          assert.ok(created.app.seq > 3, `seq ${created.app.seq} follows the old applications`);
          assert.ok(created.event.id > 5, `event id ${created.event.id} follows the old events`);
          const page = await store.listApplications({ limit: 10 });
          assert.deepEqual(
            page.map((a) => a.uid),
            [created.app.uid, 'app-new', 'app-live', 'app-done'],
          );
        } finally {
          await store.close();
        }
      });
    }
  });
}
