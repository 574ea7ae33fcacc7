import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runCli } from '../cli/main.js';
import { recordingIo } from '../cli/testing-io.js';
import { bearer, createUser, startApiNode, testLabelBody, type ApiTestNode } from './testing/api-harness.js';

/** Creates an application through the API; its uid. */
async function create(t: ApiTestNode): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: '/api/v1/applications', headers: bearer(t.adminToken), payload: { label: 'burst' } });
  assert.equal(r.statusCode, 201, r.body);
  return r.json<{ uid: string }>().uid;
}

describe('database backup: shoal admin backup FILE (GET /api/v1/nodes/this/backup)', () => {
  let t: ApiTestNode;
  let url: string;
  let dir: string;
  before(async () => {
    t = await startApiNode({ node: { cpu: 64, ram: 128, driverConfig: { cpu: 64, ram: 128 } } });
    url = await t.listen();
    dir = await mkdtemp(join(tmpdir(), 'shoal-backup-'));
    const r = await t.app.inject({ method: 'POST', url: '/api/v1/labels', headers: bearer(t.adminToken), payload: testLabelBody('burst') });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => {
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a backup taken during a burst opens, passes integrity_check and holds every application committed before it started', async () => {
    const committed: string[] = [];
    for (let i = 0; i < 300; i++) committed.push(await create(t));
    // the burst: applications keep being created (and scheduled, allocated) while the backup runs
    let stop = false;
    const during: string[] = [];
    const burst = (async () => {
      for (let i = 0; i < 5_000 && !stop; i++) during.push(await create(t));
    })();
    const file = join(dir, 'node.db');
    const io = recordingIo(dir, { HOME: dir, SHOAL_CONFIG: join(dir, 'cli.json') });
    let code: number;
    try {
      code = await runCli(['node', 'shoal', '--url', url, '--token', t.adminToken, 'admin', 'backup', 'node.db'], io);
    } finally {
      stop = true;
      await burst;
    }
    assert.equal(code, 0, io.stderr());
    assert.match(io.stdout(), /backup\s+.*node\.db/);
    assert.ok(during.length > 0, 'applications were created while the backup ran');
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'the copy holds token hashes: 0600');

    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('integrity_check', { simple: true }), 'ok');
      const have = new Set((db.prepare('select uid from applications').all() as Array<{ uid: string }>).map((r) => r.uid));
      const missing = committed.filter((u) => !have.has(u));
      assert.deepEqual(missing, [], 'every application committed before the backup is in it');
      // each application in the copy has its history: the copy is one consistent state, not a torn one
      const orphans = db
        .prepare(
          'select count(*) as n from applications a where not exists (select 1 from application_states s where s.application_uid = a.uid)',
        )
        .get() as { n: number };
      assert.equal(orphans.n, 0);
    } finally {
      db.close();
    }
    // the node's temporary copy is gone
    assert.deepEqual(
      (await readdir(t.node.dataDir)).filter((f) => f.startsWith('.backup-')),
      [],
    );
  });

  it('FILE is not overwritten without --force; a user (not admin) is refused', async () => {
    const io = recordingIo(dir, { HOME: dir, SHOAL_CONFIG: join(dir, 'cli.json') });
    const code = await runCli(['node', 'shoal', '--url', url, '--token', t.adminToken, 'admin', 'backup', 'node.db'], io);
    assert.equal(code, 2);
    assert.match(io.stderr(), /node\.db exists; pass --force/);
    const token = await createUser(t, 'mallory');
    const r = await t.app.inject({ url: '/api/v1/nodes/this/backup', headers: bearer(token) });
    assert.equal(r.statusCode, 403, r.body);
    assert.deepEqual(
      (await readdir(t.node.dataDir)).filter((f) => f.startsWith('.backup-')),
      [],
      'no copy was made',
    );
  });
});

describe('database backup on PostgreSQL', () => {
  it('answers 409 saying to use pg_dump', async () => {
    const t = await startApiNode({ dialect: 'postgres' });
    try {
      const r = await t.app.inject({ url: '/api/v1/nodes/this/backup', headers: bearer(t.adminToken) });
      assert.equal(r.statusCode, 409, r.body);
      assert.match(r.json<{ error: { message: string } }>().error.message, /pg_dump/);
    } finally {
      await t.close();
    }
  });
});
