import { randomBytes } from 'node:crypto';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A random locally administered unicast MAC (first octet: bit 1 set, bit 0 clear), lower-case. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Whether `s` is a MAC in the form this driver hands out (lower-case, colon separated). */
export function isMac(s: string): boolean {
  return MAC_RE.test(s);
}

/** A MAC as a file-name-safe id: "52:54:00:aa:bb:cc" → "525400aabbcc". */
export function macId(mac: string): string {
  return mac.replaceAll(':', '');
}

/** The reverse of macId. */
export function macFromId(id: string): string {
  return id.match(/../g)!.join(':');
}
