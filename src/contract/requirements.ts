import { invalidDefinition } from './errors.js';

/** A disk to create and attach (Aquarium Fish's `Disk`, same JSON field names). */
export interface Disk {
  /** filesystem or format; each driver lists the types it supports */
  type: string;
  /** volume name given to the disk; empty means the disk's key */
  label: string;
  /** size in GB, ≥ 1 */
  size: number;
  /** keep the disk and reattach it the next time (per label + disk name) */
  reuse: boolean;
  /** create the disk from this snapshot of a disk instead of empty ("" = none) */
  clone: string;
}

/** What a resource needs (Aquarium Fish's `Requirements`, same JSON field names). */
export interface Requirements {
  /** CPU cores, integer ≥ 1 */
  cpu: number;
  /** memory in GB, integer ≥ 1 */
  ram: number;
  disks: Record<string, Disk>;
  /** "" = host-only, "nat" = outbound allowed, or driver-specific */
  network: string;
}

/** Largest values accepted at all; a node may of course hold less. */
export const REQUIREMENT_LIMITS = { cpu: 1024, ram: 16384, diskSize: 65536, disks: 32 } as const;

const DISK_KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInt(value: unknown, field: string, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw invalidDefinition(field, `must be a whole number, got ${JSON.stringify(value)}`);
  }
  if (value < 1) throw invalidDefinition(field, `must be ≥ 1, got ${value}`);
  if (value > max) throw invalidDefinition(field, `must be ≤ ${max}, got ${value}`);
  return value;
}

function optionalString(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalidDefinition(field, `must be a string, got ${JSON.stringify(value)}`);
  return value;
}

function optionalBool(value: unknown, field: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalidDefinition(field, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

/** Parse and check one disk; `field` is its path for messages, e.g. `requirements.disks.ws`. */
export function parseDisk(raw: unknown, key: string, field: string): Disk {
  if (!DISK_KEY.test(key)) {
    throw invalidDefinition(field, 'disk names must be 1–63 letters, digits, "_", "-" or ".", starting with a letter or digit');
  }
  if (!isRecord(raw)) throw invalidDefinition(field, 'must be an object like {"type":"ext4","size":1}');
  const known = new Set(['type', 'label', 'size', 'reuse', 'clone']);
  for (const k of Object.keys(raw)) {
    if (!known.has(k)) throw invalidDefinition(`${field}.${k}`, 'unknown field (known: type, label, size, reuse, clone)');
  }
  const type = optionalString(raw.type, `${field}.type`);
  if (type === '') throw invalidDefinition(`${field}.type`, 'is required (the filesystem or format of the disk)');
  const label = optionalString(raw.label, `${field}.label`);
  if (label !== '' && !DISK_KEY.test(label)) {
    throw invalidDefinition(`${field}.label`, 'must be 1–63 letters, digits, "_", "-" or "."');
  }
  return {
    type,
    label: label === '' ? key : label,
    size: positiveInt(raw.size, `${field}.size`, REQUIREMENT_LIMITS.diskSize),
    reuse: optionalBool(raw.reuse, `${field}.reuse`),
    clone: optionalString(raw.clone, `${field}.clone`),
  };
}

/** Parse and check requirements; throws a DriverError naming the field. */
export function parseRequirements(raw: unknown, field = 'requirements'): Requirements {
  if (!isRecord(raw)) throw invalidDefinition(field, 'must be an object like {"cpu":1,"ram":1}');
  const known = new Set(['cpu', 'ram', 'disks', 'network']);
  for (const k of Object.keys(raw)) {
    if (!known.has(k)) throw invalidDefinition(`${field}.${k}`, 'unknown field (known: cpu, ram, disks, network)');
  }
  const disks: Record<string, Disk> = {};
  if (raw.disks !== undefined && raw.disks !== null) {
    if (!isRecord(raw.disks)) throw invalidDefinition(`${field}.disks`, 'must be an object of name → disk');
    const entries = Object.entries(raw.disks);
    if (entries.length > REQUIREMENT_LIMITS.disks) {
      throw invalidDefinition(`${field}.disks`, `at most ${REQUIREMENT_LIMITS.disks} disks`);
    }
    for (const [key, disk] of entries) disks[key] = parseDisk(disk, key, `${field}.disks.${key}`);
  }
  return {
    cpu: positiveInt(raw.cpu, `${field}.cpu`, REQUIREMENT_LIMITS.cpu),
    ram: positiveInt(raw.ram, `${field}.ram`, REQUIREMENT_LIMITS.ram),
    disks,
    network: optionalString(raw.network, `${field}.network`),
  };
}
