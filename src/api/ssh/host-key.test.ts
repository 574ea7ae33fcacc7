import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ssh2 from 'ssh2';
import { generateEd25519, loadOrCreateHostKey } from './host-key.js';

describe('SSH gate host key', () => {
  it('every generated pair parses (ssh2 alone fails about 1 in 250: 2,000 pairs)', () => {
    for (let i = 0; i < 2_000; i++) {
      const pair = generateEd25519();
      const parsed = ssh2.utils.parseKey(pair.private);
      assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed), `pair ${i} parses`);
      // an ed25519 public key blob: type string (4 + 11 bytes) and the 32-byte key (4 + 32)
      assert.equal(parsed.getPublicSSH().length, 4 + 11 + 4 + 32, `pair ${i}: a whole 32-byte key`);
    }
  });

  it('is made once (0600) and the same key is loaded on the next start', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-hostkey-'));
    try {
      const first = await loadOrCreateHostKey(dir);
      const file = join(dir, 'ssh', 'ssh_host_ed25519_key');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal(await readFile(file, 'utf8'), first.privateKey);
      const again = await loadOrCreateHostKey(dir);
      assert.equal(again.fingerprint, first.fingerprint);
      assert.match(first.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
