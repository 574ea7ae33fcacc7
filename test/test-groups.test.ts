// scripts/test-groups.mjs decides which test files `npm run test:unit` runs; this checks that its
// entries still name test files (a renamed or split file would otherwise leave the group silently).
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname; // dist/test → repo root

interface TestGroups {
  UNIT_PATHS: string[];
  NOT_UNIT: string[];
  isUnitTest(rel: string): boolean;
}

function testSources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) testSources(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(ROOT, p));
  }
  return out;
}

describe('test groups (npm run test:unit)', () => {
  it('every entry of UNIT_PATHS and NOT_UNIT matches a test file', async () => {
    const groups = (await import(new URL('../../scripts/test-groups.mjs', import.meta.url).href)) as TestGroups;
    const files = [...testSources(join(ROOT, 'src')), ...testSources(join(ROOT, 'test'))].map((f) => f.replace(/\.test\.ts$/, ''));
    const stale = [...groups.UNIT_PATHS, ...groups.NOT_UNIT].filter((p) => !files.some((f) => f.startsWith(p)));
    assert.deepEqual(stale, [], `entries of scripts/test-groups.mjs that match no test file: ${stale.join(', ')}`);
  });

  it('keeps tests that need a node process, PostgreSQL or a driver backend out of the unit group', async () => {
    const groups = (await import(new URL('../../scripts/test-groups.mjs', import.meta.url).href)) as TestGroups;
    for (const rel of [
      'src/cli/cli-e2e.test.js',
      'src/core/core-cluster.test.js',
      'src/drivers/docker/driver.test.js',
      'src/drivers/qemu/driver.test.js',
      'test/node-restart.test.js',
    ]) {
      assert.equal(groups.isUnitTest(rel), false, rel);
    }
    for (const rel of ['src/cli/cli.test.js', 'src/client/shoal-client.test.js', 'test/import-rules.test.js'])
      assert.equal(groups.isUnitTest(rel), true, rel);
  });
});
