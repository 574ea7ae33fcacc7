import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isTarFile, isTarHeader, TAR_BLOCK } from './tar-header.js';

/** A header for `name` (size 0), with or without the ustar magic, its checksum filled in. */
function header(name: string, magic: boolean): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100, 'latin1');
  h.write('00000000000\0', 124, 'latin1');
  h[156] = 0x30;
  if (magic) h.write('ustar\x0000', 257, 'latin1');
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

describe('tar header sniffing', () => {
  it('knows ustar headers and old v7 headers (by checksum), and nothing else', () => {
    assert.equal(isTarHeader(header('a.txt', true)), true);
    assert.equal(isTarHeader(header('a.txt', false)), true);
    const corrupt = header('a.txt', false);
    corrupt[0] = 0x62; // the checksum no longer matches
    assert.equal(isTarHeader(corrupt), false);
    assert.equal(isTarHeader(Buffer.alloc(TAR_BLOCK)), false, 'zeros');
    const qcow2 = Buffer.alloc(TAR_BLOCK);
    qcow2.write('QFI\xfb', 0, 'latin1');
    assert.equal(isTarHeader(qcow2), false);
    assert.equal(isTarHeader(header('a.txt', true).subarray(0, 300)), false, 'short');
  });

  it('sniffs files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tar-header-'));
    try {
      await writeFile(join(dir, 'a.tar'), Buffer.concat([header('a.txt', true), Buffer.alloc(2 * TAR_BLOCK)]));
      await writeFile(join(dir, 'disk.raw'), Buffer.alloc(4 * TAR_BLOCK, 0x41));
      await writeFile(join(dir, 'tiny'), 'ustar');
      assert.equal(await isTarFile(join(dir, 'a.tar')), true);
      assert.equal(await isTarFile(join(dir, 'disk.raw')), false);
      assert.equal(await isTarFile(join(dir, 'tiny')), false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
