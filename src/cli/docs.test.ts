import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import type { Command } from 'commander';
import { CONNECTION_ERROR_CODES } from '../client/index.js';
import { CLI_ERROR_CODES } from './errors.js';
import { buildProgram } from './program.js';
import { recordingIo } from './testing-io.js';

const DOC = new URL('../../../docs/cli.md', import.meta.url); // dist/src/cli → repo root

/** "app create", "label list", … every runnable command path. */
function commandPaths(cmd: Command, prefix: string[] = []): string[] {
  const out: string[] = [];
  for (const sub of cmd.commands) {
    if (sub.name() === 'help') continue;
    const path = [...prefix, sub.name()];
    if (sub.commands.length > 0) out.push(...commandPaths(sub, path));
    else out.push(path.join(' '));
  }
  return out;
}

describe('docs/cli.md', () => {
  it('shows every command with an example', async () => {
    const doc = await readFile(DOC, 'utf8');
    const paths = commandPaths(buildProgram(recordingIo('/', {})));
    assert.ok(paths.includes('app create') && paths.includes('serve'), paths.join(', '));
    const missing = paths.filter((p) => !new RegExp(`(^|\\n)(npx )?shoal ${p}\\b`).test(doc) && !doc.includes(`npx shoal ${p}`));
    assert.deepEqual(missing, [], `commands without an example in docs/cli.md: ${missing.join(', ')}`);
  });

  it('lists every error code the CLI prints', async () => {
    const doc = await readFile(DOC, 'utf8');
    const missing = [...CLI_ERROR_CODES, ...CONNECTION_ERROR_CODES].filter((c) => !doc.includes(`| \`${c}\` |`));
    assert.deepEqual(missing, [], `error codes missing from the table in docs/cli.md: ${missing.join(', ')}`);
  });
});
