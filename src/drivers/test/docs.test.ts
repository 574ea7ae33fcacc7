import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { schemaKeys } from '../shared/schema-check.js';
import { tableKeys, tableMismatch } from '../shared/docs-table.js';
import { INJECTION_KEYS, TestConfigSchema, TestOptionsSchema, parseConfig } from './config.js';
import { parseTestDefinition } from './definition.js';

// The doc lives at docs/drivers/test.md; this file runs from dist/src/drivers/test/.
const docUrl = new URL('../../../../docs/drivers/test.md', import.meta.url);

interface LabelDoc {
  name: string;
  definitions: Array<{ driver: string; options?: object; requirements: object }>;
}

describe('docs/drivers/test.md', () => {
  it('documents every option in the table and uses each in an example label', async () => {
    const md = await readFile(docUrl, 'utf8');
    // one table for both: every key of the config schema (a superset of the options schema), no other
    const table = tableKeys(md, '| key | where |');
    assert.deepEqual(tableMismatch(schemaKeys(TestConfigSchema), table, 'config'), []);
    for (const key of schemaKeys(TestOptionsSchema))
      assert.match(md, new RegExp(`\\| \`${key}\` \\| node, label \\|`), `option ${key} is not marked "label"`);
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const labels = blocks.slice(1).flatMap((b) => parseAllDocuments(b).map((d) => d.toJS() as LabelDoc));
    const used = new Set(labels.flatMap((l) => l.definitions.flatMap((d) => Object.keys(d.options ?? {}))));
    for (const key of INJECTION_KEYS) assert.ok(used.has(key), `no example label uses ${key}`);
  });

  it('every example is valid for the driver', async () => {
    const md = await readFile(docUrl, 'utf8');
    const blocks = [...md.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const [nodeBlock] = blocks;
    assert.ok(nodeBlock !== undefined && blocks.length >= 2);
    const [nodeDoc] = parseAllDocuments(nodeBlock);
    assert.ok(nodeDoc, 'the first yaml block has no document');
    const node = nodeDoc.toJS() as { drivers: Record<string, object> };
    for (const [instance, config] of Object.entries(node.drivers)) assert.doesNotThrow(() => parseConfig(JSON.stringify(config)), instance);
    let definitions = 0;
    for (const b of blocks.slice(1)) {
      for (const doc of parseAllDocuments(b)) {
        assert.deepEqual(doc.errors, []);
        const label = doc.toJS() as LabelDoc;
        for (const d of label.definitions) {
          assert.equal(d.driver, 'test');
          parseTestDefinition(JSON.stringify({ options: d.options ?? {}, requirements: d.requirements }));
          definitions++;
        }
      }
    }
    assert.ok(definitions >= 9, `only ${definitions} example definitions`);
  });
});
