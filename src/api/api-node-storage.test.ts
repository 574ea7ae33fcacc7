import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { NodeInfo } from '../model/index.js';
import { describeStoreUrl } from '../store/open-store.js';
import { waitFor } from '../core/testing/core-harness.js';
import { bearer, startApiNode, type ApiTestNode } from './testing/api-harness.js';

describe('GET /api/v1/nodes/this: database and data-dir sizes', () => {
  const nodes: ApiTestNode[] = [];
  after(async () => {
    for (const t of nodes) await t.close();
  });

  it('SQLite: the database file and its WAL, and what the data dir holds; measured at most every few seconds', async () => {
    const t = await startApiNode();
    nodes.push(t);
    const get = async (): Promise<NodeInfo> => {
      const r = await t.app.inject({ url: '/api/v1/nodes/this', headers: bearer(t.adminToken) });
      assert.equal(r.statusCode, 200, r.body);
      return r.json<NodeInfo>();
    };
    const first = (await get()).storage;
    assert.ok(first, 'storage is reported');
    const where = describeStoreUrl(t.harness.db.url);
    assert.equal(where.kind, 'sqlite');
    if (where.kind !== 'sqlite') return;
    const file = (await stat(where.path)).size;
    assert.ok(first.database_bytes > 0 && first.database_bytes <= file * 2, `database ${first.database_bytes} (file ${file})`);
    assert.equal(typeof first.wal_bytes, 'number');
    assert.equal(typeof first.data_dir_bytes, 'number');

    // 3 MiB more in the data dir: the cached reading stays until it is a few seconds old, then grows
    await writeFile(join(t.node.dataDir, 'filler.bin'), Buffer.alloc(3 * 2 ** 20, 1));
    const cached = (await get()).storage;
    assert.equal(cached?.measured_at, first.measured_at, 'answered from the cache');
    const grown = await waitFor(
      'a new reading with the filler',
      async () => {
        const s = (await get()).storage;
        if (s && s.measured_at !== first.measured_at && (s.data_dir_bytes ?? 0) >= (first.data_dir_bytes ?? 0) + 3 * 2 ** 20) return s;
        await new Promise((r) => setTimeout(r, 200));
        return undefined;
      },
      30_000,
    );
    assert.ok(Date.parse(grown.measured_at) - Date.parse(first.measured_at) >= 4_000, 'not measured again within the cache time');
  });

  it('PostgreSQL: the tables of the store, no WAL of its own', async () => {
    const t = await startApiNode({ dialect: 'postgres' });
    nodes.push(t);
    const r = await t.app.inject({ url: '/api/v1/nodes/this', headers: bearer(t.adminToken) });
    assert.equal(r.statusCode, 200, r.body);
    const s = r.json<NodeInfo>().storage;
    assert.ok(s && s.database_bytes > 0, JSON.stringify(s));
    assert.equal(s.wal_bytes, null);
  });
});
