/**
 * MAC addresses as drivers hand them out for `hwaddr`: random, locally administered, unicast,
 * lower-case and colon separated. (The conformance suite in src/contract keeps its own few lines:
 * the contract imports nothing from the rest of the project.)
 */
import { randomBytes } from 'node:crypto';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/**
 * A random locally administered unicast MAC (first octet: bit 1 set, bit 0 clear). Never Docker's
 * own 02:42 prefix, so a generated MAC cannot look like one Docker picked.
 */
export function randomMac(): string {
  const b = randomBytes(6);
  const first = (b.readUInt8(0) & 0xfc) | 0x02;
  b.writeUInt8(first, 0);
  if (first === 0x02 && b.readUInt8(1) === 0x42) b.writeUInt8(0x43, 1);
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Whether `s` is a MAC in the form drivers hand out (lower-case, colon separated). */
export function isMac(s: string): boolean {
  return MAC.test(s);
}

/** "02:ab:…" → "02ab…": a file-, interface- and container-name-safe id. */
export function macHex(mac: string): string {
  return mac.replaceAll(':', '');
}

/** "02ab…" → "02:ab:…"; undefined when not 12 lower-case hex digits. */
export function macFromHex(hex: string): string | undefined {
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)?.join(':');
}
