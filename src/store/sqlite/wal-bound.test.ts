import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openStore } from '../open-store.js';
import { makeLabel, newApp } from '../store-test-kit.js';

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

describe('SQLite WAL under sustained writes', () => {
  it('stays bounded without any pause in the writes (checkpointed by count, truncated to the size limit)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-wal-'));
    const file = join(dir, 'shoal.db');
    const store = await openStore(`sqlite:${file}`);
    try {
      const label = await makeLabel(store, 'wal');
      let largest = 0;
      // ~45 KB of WAL per application: 4,000 of them without a pause would leave ~180 MB unbounded
      for (let i = 0; i < 4_000; i++) {
        await store.insertApplication(newApp(label.uid), 'new');
        if (i % 100 === 99) largest = Math.max(largest, await sizeOf(`${file}-wal`));
      }
      assert.ok(largest > 0, 'the store writes through a WAL');
      assert.ok(largest < 48 * 2 ** 20, `the WAL reached ${(largest / 2 ** 20).toFixed(1)} MiB`);
      assert.equal((await store.countByStatus()).NEW, 4_000);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
