import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './config.js';

describe('config retention', () => {
  async function withConfig(text: string | undefined, fn: (load: () => ReturnType<typeof loadConfig>) => Promise<void>): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-retention-'));
    try {
      if (text !== undefined) await writeFile(join(dir, 'shoal.yml'), text);
      await fn(() => loadConfig({ ...(text !== undefined ? { configPath: join(dir, 'shoal.yml') } : {}), dataDir: dir }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('defaults to 30 days and takes any duration of the grammar', async () => {
    await withConfig(undefined, async (load) => assert.equal((await load()).retentionMs, 30 * 86_400_000));
    await withConfig('retention: 2h\n', async (load) => assert.equal((await load()).retentionMs, 2 * 3_600_000));
    await withConfig('retention: 90\n', async (load) => assert.equal((await load()).retentionMs, 90_000));
  });

  it('refuses what is not a duration, or 0, naming the setting', async () => {
    for (const [text, problem] of [
      ['retention: forever\n', /^config retention: "forever" is not a duration/],
      ['retention: 0s\n', /^config retention: "0s" must be greater than 0/],
    ] as const) {
      await withConfig(text, async (load) => {
        await assert.rejects(load(), (e: unknown) => e instanceof ConfigError && problem.test(e.message));
      });
    }
  });
});
