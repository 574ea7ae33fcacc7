import { open } from 'node:fs/promises';

/**
 * Tar sniffing, the one place that knows what a tar header looks like: the docker driver reads
 * `docker save` archives and rootfs tarballs with it, the qemu driver refuses a tar archive given
 * as a disk image with it.
 */

export const TAR_BLOCK = 512;

/** NUL-terminated text field of a header. */
export function tarField(block: Uint8Array, start: number, len: number): string {
  const b = Buffer.from(block.buffer, block.byteOffset, block.byteLength).subarray(start, start + len);
  const nul = b.indexOf(0);
  return b.subarray(0, nul === -1 ? b.length : nul).toString('utf8');
}

/** A POSIX/GNU header ("ustar" at offset 257). */
export function hasUstarMagic(block: Uint8Array): boolean {
  return tarField(block, 257, 6).startsWith('ustar');
}

/**
 * Whether a 512-byte block is a tar header: the "ustar" magic, or (old v7 tars have no magic)
 * a header checksum that matches the block.
 */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < TAR_BLOCK) return false;
  if (hasUstarMagic(block)) return true;
  const sum = parseInt(tarField(block, 148, 8).trim(), 8);
  let calc = 0;
  for (let i = 0; i < TAR_BLOCK; i++) calc += i >= 148 && i < 156 ? 32 : block[i]!;
  return sum === calc;
}

/** Whether the file starts with a tar header. */
export async function isTarFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const block = Buffer.alloc(TAR_BLOCK);
    const { bytesRead } = await fh.read(block, 0, TAR_BLOCK, 0);
    return bytesRead === TAR_BLOCK && isTarHeader(block);
  } finally {
    await fh.close();
  }
}
