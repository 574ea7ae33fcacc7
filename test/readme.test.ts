// README.md stays true: its example labels pass the schema and their drivers' validateDefinition,
// its config example loads, and its test command is what CI runs.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { parseAllDocuments } from 'yaml';
import { stringifyDefinition } from '../src/contract/index.js';
import { DriversList } from '../src/drivers/registry.js';
import { loadConfig } from '../src/main/config.js';
import { LabelCreate } from '../src/model/index.js';

const ROOT = new URL('../../', import.meta.url).pathname;

async function yamlBlocks(): Promise<string[]> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('README.md', () => {
  it('has example labels that are valid for their drivers', async () => {
    const blocks = (await yamlBlocks()).filter((b) => /^definitions:/m.test(b));
    assert.ok(blocks.length >= 3, 'one example label per driver');
    const drivers = new Set<string>();
    const dir = await mkdtemp(join(tmpdir(), 'shoal-readme-'));
    try {
      // the drivers apply the fetch policy of the README's own configuration example
      const configBlock = (await yamlBlocks()).find((b) => /^fetch:/m.test(b));
      assert.ok(configBlock, 'the configuration example has a fetch section');
      await writeFile(join(dir, 'shoal.yml'), configBlock);
      const { fetch } = await loadConfig({ configPath: join(dir, 'shoal.yml'), dataDir: dir });
      for (const block of blocks) {
        // a placeholder checksum stands for the reader's own file
        const text = block.replaceAll('<sha256 of the file>', '0'.repeat(64));
        for (const doc of parseAllDocuments(text)) {
          const label = doc.toJS() as unknown;
          assert.ok(
            Value.Check(LabelCreate, label),
            `${JSON.stringify(label)}: ${[...Value.Errors(LabelCreate, label)].map((e) => `${e.path} ${e.message}`).join('; ')}`,
          );
          for (const def of (label as { definitions: Array<{ driver: string; options?: Record<string, unknown>; requirements: unknown }> })
            .definitions) {
            const factory = DriversList.get(def.driver);
            assert.ok(factory, `driver ${def.driver} exists`);
            drivers.add(def.driver);
            const noop = (): void => undefined;
            const driver = factory.create({
              instance: def.driver,
              nodeName: 'readme',
              dataDir: dir,
              log: { debug: noop, info: noop, warn: noop, error: noop },
              meta: { address: '127.0.0.1:0', listen: async () => async () => undefined, handlerFor: () => noop },
              fetch: {
                allowFiles: [join(dir, 'import'), ...fetch.allowFiles],
                allowHosts: fetch.allowHosts,
                maxImageBytes: fetch.maxImageBytes,
              },
            });
            await driver.validateDefinition(stringifyDefinition(def));
          }
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual([...drivers].sort(), ['docker', 'native', 'qemu', 'test']);
  });

  it('has a config example that loads', async () => {
    const block = (await yamlBlocks()).find((b) => /^drivers:/m.test(b) && /^capacity:/m.test(b));
    assert.ok(block, 'the configuration example');
    const dir = await mkdtemp(join(tmpdir(), 'shoal-readme-cfg-'));
    try {
      const path = join(dir, 'shoal.yml');
      await writeFile(path, block);
      const cfg = await loadConfig({ configPath: path });
      assert.equal(cfg.name, 'node-1');
      assert.equal(cfg.api.port, 8001);
      assert.equal(cfg.meta.port, 8002);
      assert.deepEqual(Object.keys(cfg.drivers ?? {}).sort(), ['docker', 'docker/ssd', 'test']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives the test command that CI runs', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    assert.match(readme, /npm ci && npx shoal serve/);
    assert.match(readme, /npm ci && npm test/);
    const ci = await readFile(join(ROOT, '.ci', 'run'), 'utf8');
    assert.match(ci, /^npm ci$/m);
    assert.match(ci, /^npm test$/m);
  });
});
