import { readFile } from 'node:fs/promises';

/** A hardware address that is a MAC (aa:bb:cc:dd:ee:ff or with dashes). */
export function isMac(hwaddr: string): boolean {
  return /^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(hwaddr);
}

export function normalizeMac(mac: string): string {
  return mac.toLowerCase().replace(/-/g, ':');
}

/**
 * The MAC the kernel's neighbour table (/proc/net/arp) has for `ip`, or undefined when it has no
 * complete entry (e.g. loopback addresses never appear there).
 */
export async function neighbourMac(ip: string, path = '/proc/net/arp'): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // IP address, HW type, Flags, HW address, Mask, Device
    if (cols.length < 4 || cols[0] !== ip) continue;
    const flags = Number.parseInt(cols[2] ?? '0', 16);
    const mac = cols[3] ?? '';
    if ((flags & 0x2) === 0 || mac === '00:00:00:00:00:00') continue; // incomplete entry
    return normalizeMac(mac);
  }
  return undefined;
}
