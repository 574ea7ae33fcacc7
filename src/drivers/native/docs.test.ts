import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { tableKeys, tableMismatch } from '../shared/docs-table.js';
import { CONFIG_KEYS, parseConfig } from './config.js';
import { OPTION_KEYS, parseNativeDefinition } from './definition.js';

// The doc lives at docs/drivers/native.md; this file runs from dist/src/drivers/native/.
const docUrl = new URL('../../../../docs/drivers/native.md', import.meta.url);

interface LabelDoc {
  definitions: Array<{ driver: string; options?: Record<string, unknown>; requirements: object }>;
}

describe('docs/drivers/native.md', () => {
  it('documents every config key and every option, and the Meta API address', async () => {
    const md = await readFile(docUrl, 'utf8');
    assert.deepEqual(tableMismatch(CONFIG_KEYS, tableKeys(md, '| key | values | default | effect |'), 'config table'), []);
    assert.deepEqual(tableMismatch(OPTION_KEYS, tableKeys(md, '| option | value | effect |'), 'options table'), []);
    const defaults = parseConfig('{}', '/var/lib/shoal/native');
    assert.ok(md.includes(`http://${defaults.metaAddress}/meta/v1/data`));
  });

  it('the node config and every example label are valid for the driver', async () => {
    const md = await readFile(docUrl, 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 3, 'a node config and at least two labels');
    const node = parseAllDocuments(blocks[0]!)[0]!.toJS() as { drivers: Record<string, object> };
    parseConfig(JSON.stringify(node.drivers.native), '/var/lib/shoal/native');
    const used = new Set<string>();
    for (const b of blocks.slice(1)) {
      const label = parseAllDocuments(b)[0]!.toJS() as LabelDoc;
      for (const d of label.definitions) {
        assert.equal(d.driver, 'native');
        parseNativeDefinition(JSON.stringify({ options: d.options ?? {}, requirements: d.requirements }));
        for (const k of Object.keys(d.options ?? {})) used.add(k);
      }
    }
    for (const key of OPTION_KEYS) assert.ok(used.has(key), `no example uses option ${key}`);
  });
});
