import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from './config.js';

async function withConfig<T>(settings: Record<string, unknown>, fn: (load: () => ReturnType<typeof loadConfig>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-nodes-'));
  try {
    const configPath = join(dir, 'shoal.yml');
    await writeFile(configPath, stringify(settings));
    return await fn(() => loadConfig({ configPath, dataDir: dir }, {}));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('config: node marks and min_free_disk', () => {
  it('defaults: heartbeat 5s, dead after 30s, lost after 5m, 256MB free', async () => {
    await withConfig({}, async (load) => {
      const c = await load();
      assert.deepEqual(c.nodeTimings, { heartbeatMs: 5_000, deadAfterMs: 30_000, nodeLostAfterMs: 300_000 });
      assert.equal(c.minFreeDiskBytes, 256 * 2 ** 20);
      assert.equal(c.resourceCheckMs, 60_000);
    });
  });

  it('reads durations (a bare number is seconds) and sizes; 0 turns the disk mark off', async () => {
    await withConfig(
      { heartbeat: '200ms', node_dead_after: 2, node_lost_after: '1m', min_free_disk: 0, resource_check: '10s' },
      async (load) => {
        const c = await load();
        assert.equal(c.resourceCheckMs, 10_000);
        assert.deepEqual(c.nodeTimings, { heartbeatMs: 200, deadAfterMs: 2_000, nodeLostAfterMs: 60_000 });
        assert.equal(c.minFreeDiskBytes, 0);
      },
    );
  });

  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ node_lost_after: '20s' }, /^ConfigError: config node_lost_after: must be longer than node_dead_after \(30 s\)/],
    [{ node_dead_after: '30s', node_lost_after: '30s' }, /^ConfigError: config node_lost_after: must be longer than node_dead_after/],
    [{ heartbeat: '1m' }, /^ConfigError: config node_dead_after: must be longer than heartbeat/],
    [{ node_lost_after: 'soon' }, /^ConfigError: config node_lost_after: "soon" is not a duration/],
    [{ heartbeat: '0s' }, /^ConfigError: config heartbeat: /],
    [{ min_free_disk: 'lots' }, /^ConfigError: config min_free_disk: /],
    [{ min_free_disk: -5 }, /^ConfigError: config min_free_disk: /],
    [{ resource_check: 'often' }, /^ConfigError: config resource_check: "often" is not a duration/],
  ];
  for (const [settings, re] of bad) {
    it(`refuses ${JSON.stringify(settings)}`, async () => {
      await withConfig(settings, async (load) => {
        await assert.rejects(load(), re);
      });
    });
  }
});
