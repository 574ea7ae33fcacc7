import { randomBytes } from 'node:crypto';

/** FNV-1a of the instance name → the second octet 1–254 of its loopback block 127.X.0.0/16. */
export function loopbackBlock(instance: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < instance.length; i++) {
    h ^= instance.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return 1 + (h % 254);
}

/**
 * A random loopback address 127.X.y.z in the instance's block (y 0–255, z 1–254), not in `used`.
 * Linux routes all of 127/8 to lo, so a client can bind it as its source address.
 * Returns undefined when no free address was found (the block holds 65,024).
 */
export function randomLoopback(block: number, used: ReadonlySet<string>): string | undefined {
  for (let attempt = 0; attempt < 64; attempt++) {
    const [y, z] = randomBytes(2);
    if (z === 0 || z === 255) continue;
    const ip = `127.${block}.${y}.${z}`;
    if (!used.has(ip)) return ip;
  }
  for (let y = 0; y < 256; y++) {
    for (let z = 1; z < 255; z++) {
      const ip = `127.${block}.${y}.${z}`;
      if (!used.has(ip)) return ip;
    }
  }
  return undefined;
}
