import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { tableKeys, tableMismatch } from '../shared/docs-table.js';
import { CONFIG_KEYS, parseConfig } from './config.js';
import { OPTION_KEYS, parseQemuDefinition } from './definition.js';

// The doc lives at docs/drivers/qemu.md; this file runs from dist/src/drivers/qemu/.
const docUrl = new URL('../../../../docs/drivers/qemu.md', import.meta.url);

interface LabelDoc {
  name: string;
  definitions: Array<{ driver: string; options?: Record<string, unknown>; requirements: object }>;
}

/** Checksum placeholders in the examples (`sha256:<…>`) become a well-formed dummy for parsing. */
function fillPlaceholders(yaml: string): string {
  return yaml.replace(/sha256:<[^>]+>/g, `sha256:${'0'.repeat(64)}`);
}

describe('docs/drivers/qemu.md', () => {
  it('documents every config key and every option', async () => {
    const md = await readFile(docUrl, 'utf8');
    assert.deepEqual(tableMismatch(CONFIG_KEYS, tableKeys(md, '| key | values | default | effect |'), 'config table'), []);
    assert.deepEqual(tableMismatch(OPTION_KEYS, tableKeys(md, '| option | value | effect |'), 'options table'), []);
    const defaults = parseConfig('{}', '/var/lib/shoal/qemu');
    assert.ok(md.includes(`http://${defaults.metaAddress}/meta/v1/data`), 'the Meta API address inside the guest is documented');
  });

  it('the node config and every example label are valid for the driver', async () => {
    const md = await readFile(docUrl, 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 3, 'a node config and at least two labels');
    const node = parseAllDocuments(blocks[0]!)[0]!.toJS() as { drivers: Record<string, object> };
    const config = parseConfig(JSON.stringify(node.drivers.qemu), '/var/lib/shoal/qemu');
    const firmware = config.firmware;
    let definitions = 0;
    const used = new Set<string>();
    for (const b of blocks.slice(1)) {
      for (const doc of parseAllDocuments(fillPlaceholders(b))) {
        assert.deepEqual(doc.errors, []);
        const label = doc.toJS() as LabelDoc;
        for (const d of label.definitions) {
          assert.equal(d.driver, 'qemu');
          parseQemuDefinition(JSON.stringify({ options: d.options ?? {}, requirements: d.requirements }), firmware);
          for (const k of Object.keys(d.options ?? {})) used.add(k);
          definitions++;
        }
      }
    }
    assert.ok(definitions >= 3, `only ${definitions} example definitions`);
    for (const key of OPTION_KEYS) assert.ok(used.has(key), `no example uses option ${key}`);
  });
});
