import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { configPath, readConfig, writeConfig } from './config-file.js';
import { UsageError } from './errors.js';

describe('CLI config file', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-cli-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is $SHOAL_CONFIG, else $XDG_CONFIG_HOME/shoal/config.json, else ~/.config/shoal/config.json', () => {
    assert.equal(configPath({ SHOAL_CONFIG: 'c.json', HOME: '/h' }, '/w'), '/w/c.json');
    assert.equal(configPath({ XDG_CONFIG_HOME: '/x', HOME: '/h' }, '/w'), '/x/shoal/config.json');
    assert.equal(configPath({ HOME: '/h' }, '/w'), '/h/.config/shoal/config.json');
  });

  it('is written with mode 0600 in a 0700 directory it creates, and read back', async () => {
    const path = join(dir, 'new', 'sub', 'config.json');
    await writeConfig(path, { url: 'https://127.0.0.1:8001', token: 'tok', user: 'admin', ca: '-----BEGIN CERTIFICATE-----\n' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'new', 'sub'))).mode & 0o777, 0o700);
    const back = await readConfig(path);
    assert.deepEqual(back, { config: { url: 'https://127.0.0.1:8001', token: 'tok', user: 'admin', ca: '-----BEGIN CERTIFICATE-----\n' } });
  });

  it('replaces a world-readable file with a 0600 one and leaves no temp file behind', async () => {
    const path = join(dir, 'open.json');
    await writeFile(path, '{}');
    await chmod(path, 0o644);
    await writeConfig(path, { url: 'http://127.0.0.1:1', token: 't2' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(
      (await readdir(dir)).filter((f) => f.includes('.tmp')),
      [],
    );
  });

  it('warns when a saved file is readable by others', async () => {
    const path = join(dir, 'loose.json');
    await writeFile(path, JSON.stringify({ url: 'http://x', token: 't' }));
    await chmod(path, 0o644);
    const r = await readConfig(path);
    assert.match(r?.warning ?? '', /readable by others \(mode 644\): chmod 600/);
  });

  it('is undefined when missing, and a usage error naming the file when broken', async () => {
    assert.equal(await readConfig(join(dir, 'missing.json')), undefined);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{not json');
    await assert.rejects(
      readConfig(bad),
      (e: unknown) => e instanceof UsageError && e.message.includes(bad) && /not valid JSON/.test(e.message),
    );
    const partial = join(dir, 'partial.json');
    await writeFile(partial, '{"url":"http://x"}');
    await assert.rejects(readConfig(partial), /lacks "url" or "token"/);
  });
});
