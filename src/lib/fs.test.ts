import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathExists } from './fs.js';

describe('pathExists', () => {
  it('is true for a file and a directory, false for a missing path and a dangling link', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fs-'));
    try {
      await writeFile(join(dir, 'f'), 'x');
      await symlink(join(dir, 'missing'), join(dir, 'dangling'));
      assert.equal(await pathExists(join(dir, 'f')), true);
      assert.equal(await pathExists(dir), true);
      assert.equal(await pathExists(join(dir, 'missing')), false);
      assert.equal(await pathExists(join(dir, 'dangling')), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
