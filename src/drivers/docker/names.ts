import { macHex } from '../shared/mac.js';

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
