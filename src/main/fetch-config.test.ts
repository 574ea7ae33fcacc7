import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseFetchConfig } from './config.js';

describe('config fetch', () => {
  it('defaults to no extra dirs, no extra hosts and 16GB', () => {
    assert.deepEqual(parseFetchConfig(undefined), { allowFiles: [], allowHosts: [], maxImageBytes: 16 * 2 ** 30 });
  });

  it('reads dirs (resolved), hosts, networks and sizes', () => {
    const f = parseFetchConfig({
      allow_files: ['/srv/images', 'rel/dir'],
      allow_hosts: ['mirror.internal', '10.20.0.0/16', '::1'],
      max_image_size: '512MB',
    });
    assert.deepEqual(f.allowFiles, ['/srv/images', resolve('rel/dir')]);
    assert.deepEqual(f.allowHosts, ['mirror.internal', '10.20.0.0/16', '::1']);
    assert.equal(f.maxImageBytes, 512 * 2 ** 20);
  });

  const bad: Array<[unknown, RegExp]> = [
    ['yes', /^config fetch: must be a mapping/],
    [{ allow_file: [] }, /^config fetch\.allow_file: unknown setting/],
    [{ allow_files: '/srv' }, /^config fetch\.allow_files: must be a list of strings/],
    [{ allow_files: ['/'] }, /^config fetch\.allow_files: must not allow the whole file system/],
    [{ allow_hosts: ['http://x/'] }, /^config fetch\.allow_hosts: "http:\/\/x\/" is not a host name/],
    [{ allow_hosts: ['10.0.0.0/99'] }, /^config fetch\.allow_hosts: /],
    [{ max_image_size: 'huge' }, /^config fetch\.max_image_size: must be a size like/],
    [{ max_image_size: 0 }, /^config fetch\.max_image_size: /],
  ];
  for (const [value, message] of bad) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      assert.throws(
        () => parseFetchConfig(value),
        (err: unknown) => err instanceof ConfigError && message.test(err.message),
      );
    });
  }

  it('is read from the config file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fetchcfg-'));
    try {
      await writeFile(join(dir, 'shoal.yml'), 'fetch:\n  allow_hosts: [127.0.0.9]\n  max_image_size: 1GB\n');
      const cfg = await loadConfig({ configPath: join(dir, 'shoal.yml'), dataDir: dir });
      assert.deepEqual(cfg.fetch, { allowFiles: [], allowHosts: ['127.0.0.9'], maxImageBytes: 2 ** 30 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
