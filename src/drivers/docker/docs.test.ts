import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { tableKeys, tableMismatch } from '../shared/docs-table.js';
import { CONFIG_KEYS, parseDockerConfig } from './config.js';
import { DISK_TYPES, OPTION_KEYS, parseDockerDefinition } from './definition.js';

// The doc lives at docs/drivers/docker.md; this file runs from dist/src/drivers/docker/.
const docUrl = new URL('../../../../docs/drivers/docker.md', import.meta.url);

interface LabelDoc {
  name: string;
  definitions: Array<{ driver: string; options?: Record<string, unknown>; requirements: Record<string, unknown> }>;
}

async function yamlBlocks(): Promise<string[]> {
  const md = await readFile(docUrl, 'utf8');
  return [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

describe('docs/drivers/docker.md', () => {
  it('documents every config key, option and disk type in its tables', async () => {
    const md = await readFile(docUrl, 'utf8');
    assert.deepEqual(tableMismatch(CONFIG_KEYS, tableKeys(md, '| key | values | default | effect |'), 'config table'), []);
    assert.deepEqual(tableMismatch(OPTION_KEYS, tableKeys(md, '| option | value | effect |'), 'options table'), []);
    for (const key of DISK_TYPES) {
      assert.match(md, new RegExp(`\\| \`${key}\` \\|`), `${key} is not in a table`);
    }
    assert.match(md, /SHOAL_META_URL/);
    assert.match(md, /\/mnt\/<label>/);
  });

  it('every example is valid, and together they use every option', async () => {
    const blocks = await yamlBlocks();
    assert.ok(blocks.length >= 2);
    const node = parseAllDocuments(blocks[0]!)[0]!.toJS() as { drivers: Record<string, object> };
    const configKeys = new Set<string>();
    for (const [instance, config] of Object.entries(node.drivers)) {
      assert.doesNotThrow(() => parseDockerConfig(JSON.stringify(config), '/var/lib/shoal', instance), instance);
      for (const k of Object.keys(config)) configKeys.add(k);
    }
    const used = new Set<string>();
    const diskFeatures = new Set<string>();
    for (const b of blocks.slice(1)) {
      for (const doc of parseAllDocuments(b)) {
        assert.deepEqual(doc.errors, []);
        const label = doc.toJS() as LabelDoc;
        for (const d of label.definitions) {
          assert.equal(d.driver, 'docker');
          const parsed = parseDockerDefinition(JSON.stringify({ options: d.options ?? {}, requirements: d.requirements }));
          for (const k of Object.keys(d.options ?? {})) used.add(k);
          for (const disk of parsed.disks) {
            diskFeatures.add(disk.type);
            if (disk.reuse) diskFeatures.add('reuse');
            if (disk.clone) diskFeatures.add('clone');
          }
        }
      }
    }
    for (const key of OPTION_KEYS) assert.ok(used.has(key), `no example label uses options.${key}`);
    for (const f of [...DISK_TYPES, 'reuse', 'clone']) assert.ok(diskFeatures.has(f), `no example label uses a ${f} disk`);
  });
});
