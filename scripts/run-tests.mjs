#!/usr/bin/env node
// Runs every compiled test file (dist/**/*.test.js) with node's test runner, listing the files
// explicitly (Node 20 does not expand globs). Exits non-zero when no test file is found.
// SHOAL_TEST_FILTER=substring keeps only the files whose path contains it. With --unit, only the
// unit tests (no root, daemons or node processes: scripts/test-groups.mjs) run — `npm run test:unit`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isUnitTest } from './test-groups.mjs';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = [];
for (const sub of ['src', 'test']) {
  const d = join(dist, sub);
  if (existsSync(d)) walk(d, files);
}
const filter = process.env.SHOAL_TEST_FILTER;
const unitOnly = process.argv.includes('--unit');
const selected = files
  .filter((f) => !filter || f.includes(filter))
  .filter((f) => !unitOnly || isUnitTest(relative(dist, f)))
  .sort();
if (selected.length === 0) {
  console.error(
    `run-tests: no ${unitOnly ? 'unit ' : ''}test files found under ${relative(root, dist)}${filter ? ` matching "${filter}"` : ''}`,
  );
  process.exit(1);
}
console.log(`run-tests: ${selected.length} ${unitOnly ? 'unit ' : ''}test files`);
const args = [
  '--enable-source-maps',
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.SHOAL_TEST_CONCURRENCY ?? '2'}`,
  ...selected,
];
const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
