import { randomBytes } from 'node:crypto';

/** Container labels Shoal sets; `shoal.resource` holds the hwaddr (the container's MAC). */
export const LABELS = {
  resource: 'shoal.resource',
  node: 'shoal.node',
  instance: 'shoal.instance',
  application: 'shoal.application',
  label: 'shoal.label',
  network: 'shoal.network',
} as const;

/** Env var naming the Meta API base address inside a container. */
export const META_URL_ENV = 'SHOAL_META_URL';

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A random locally administered unicast MAC (first octet: bit 1 set, bit 0 clear). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfc) | 0x02;
  // avoid Docker's own 02:42 prefix so a generated MAC never looks like one Docker picked
  if (b[0] === 0x02 && b[1] === 0x42) b[1] = 0x43;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

export function isMac(s: string): boolean {
  return MAC.test(s);
}

/** "02:ab:…" → "02ab…" (file and container names). */
export function macHex(mac: string): string {
  return mac.replace(/:/g, '');
}

/** "02ab…" → "02:ab:…"; undefined when not 12 hex digits. */
export function macFromHex(hex: string): string | undefined {
  if (!/^[0-9a-f]{12}$/.test(hex)) return undefined;
  return hex.match(/../g)!.join(':');
}

/** Letters, digits, "_", "-", "." only (docker names, file names). */
export function slug(s: string): string {
  return s.replace(/[^A-Za-z0-9_.-]/g, '-');
}

/** A container name for a resource: unique per instance and hwaddr. */
export function containerName(instance: string, hwaddr: string): string {
  return `shoal-${slug(instance)}-${macHex(hwaddr)}`;
}

/** Metadata key → env var name: letters, digits and "_", not starting with a digit. */
export function envKey(key: string): string {
  const k = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(k) || k === '' ? `_${k}` : k;
}

/** A metadata value as an env string: strings as is, others as JSON. */
export function envValue(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return JSON.stringify(v);
}
