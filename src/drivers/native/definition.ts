/** A native label definition: options (command, env, user, mounts) and requirements (cpu, ram, disks, network). */
import { Type } from '@sinclair/typebox';
import { invalidDefinition, parseDefinition, type Disk, type Requirements } from '../../contract/index.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';

/**
 * Disk types: `dir` = a directory under its own size quota, `ext4` = a file system of its own with
 * its label; both are sparse ext4 images loop-mounted on the host (the kernel enforces the size)
 * and bind-mounted into the sandbox at /mnt/<label>.
 */
export const DISK_TYPES = ['dir', 'ext4'] as const;
export type DiskType = (typeof DISK_TYPES)[number];
export const NETWORKS = ['', 'nat'] as const;

/** What runs when a label gives no command: a shell that waits until the environment is deallocated. */
export const DEFAULT_COMMAND = ['/bin/sh', '-c', 'exec sleep infinity'];

export interface NativeDisk extends Disk {
  /** disk key in requirements.disks */
  name: string;
  type: DiskType;
}

export interface NativeMount {
  /** host path (under one of the config's allow_mounts) */
  source: string;
  /** path inside the sandbox */
  target: string;
  writable: boolean;
}

export interface NativeDefinition {
  command: string[];
  env: Record<string, string>;
  mounts: NativeMount[];
  requirements: Requirements;
  disks: NativeDisk[];
  nat: boolean;
}

const PLAIN_PATH = '^/[A-Za-z0-9/._+-]*$';

/** A native label definition's `options` (docs/drivers/native.md lists each). */
export const NativeOptionsSchema = Type.Object(
  {
    command: Type.Optional(
      Type.Array(Type.String(), {
        minItems: 1,
        maxItems: 1024,
        problem: 'must be a non-empty array of strings, e.g. ["/bin/sh","-c","make test"]',
        description: 'the sandbox\'s init: program and arguments (default a shell that waits: ["/bin/sh","-c","exec sleep infinity"])',
      }),
    ),
    env: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'extra environment variables, NAME → string' })),
    user: Type.Optional(
      Type.Literal('auto', {
        problem: 'must be "auto" (a fresh uid of the node\'s uid_range for each environment)',
        description: '"auto" (the only value, the default): a fresh uid from the node\'s uid_range, never a host user',
      }),
    ),
    mounts: Type.Optional(
      Type.Array(
        Type.Object(
          {
            source: Type.String({
              pattern: PLAIN_PATH,
              problem: 'must be an absolute host path',
              description: "host path under one of the node's allow_mounts",
            }),
            target: Type.Optional(
              Type.String({
                pattern: PLAIN_PATH,
                problem: 'must be an absolute path',
                description: 'where it appears inside (default the same path)',
              }),
            ),
            writable: Type.Optional(Type.Boolean({ description: 'read-write instead of read-only (default false)' })),
          },
          { additionalProperties: false },
        ),
        { maxItems: 32, description: 'host paths the node config allows (allow_mounts), read-only unless writable' },
      ),
    ),
  },
  { additionalProperties: false },
);

export const OPTION_KEYS = schemaKeys(NativeOptionsSchema);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** variables the driver sets itself */
const RESERVED_ENV = new Set(['HOME', 'USER', 'LOGNAME', 'SHOAL_META_URL']);
/** clone values are "<snapshot id>/<disk name>", as snapshot() reports them */
export const CLONE_REF = /^(s-[a-z0-9-]{1,80})\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})$/;
/** the sandbox's own file system: a mount may not cover or go below these */
const SYSTEM_PATHS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/etc', '/proc', '/dev', '/tmp', '/home', '/run', '/sys'];

function under(path: string, dir: string): boolean {
  return path === dir || path.startsWith(`${dir}/`);
}

function cleanPath(p: string, field: string): string {
  if (p.split('/').some((s) => s === '..' || s === '.')) throw invalidDefinition(field, 'must not contain "." or ".." segments');
  const out = p.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  return out;
}

/** Parse and check a native definition; throws DriverError INVALID_DEFINITION naming the field. */
export function parseNativeDefinition(definition: string): NativeDefinition {
  const def = parseDefinition(definition);
  const o = checkAgainstSchema(NativeOptionsSchema, def.options, {
    prefix: 'options.',
    invalid: invalidDefinition,
    unknown: 'unknown option',
  });
  const command = o.command ?? DEFAULT_COMMAND;
  command.forEach((s, i) => {
    if (s.includes('\0')) throw invalidDefinition(`options.command[${i}]`, 'must not contain NUL');
  });
  if (command[0] === '') throw invalidDefinition('options.command[0]', 'must name a program');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env ?? {})) {
    if (!ENV_NAME.test(k)) throw invalidDefinition(`options.env.${k}`, 'is not a valid variable name (letters, digits, "_")');
    if (RESERVED_ENV.has(k)) throw invalidDefinition(`options.env.${k}`, 'is set by the driver');
    if (v.includes('\0')) throw invalidDefinition(`options.env.${k}`, 'must not contain NUL');
    env[k] = v;
  }
  const req = def.requirements;
  if (!(NETWORKS as readonly string[]).includes(req.network)) {
    throw invalidDefinition('requirements.network', `"${req.network}" is not supported by native (use "" for host-only or "nat")`);
  }
  const disks: NativeDisk[] = [];
  const labels = new Map<string, string>();
  for (const [name, disk] of Object.entries(req.disks)) {
    const field = `requirements.disks.${name}`;
    if (!(DISK_TYPES as readonly string[]).includes(disk.type)) {
      throw invalidDefinition(`${field}.type`, `"${disk.type}" is not supported by native (use ${DISK_TYPES.join(' or ')})`);
    }
    const other = labels.get(disk.label);
    if (other !== undefined) {
      throw invalidDefinition(
        `${field}.label`,
        `"${disk.label}" is already used by disk "${other}" (each disk is mounted at /mnt/<label>)`,
      );
    }
    labels.set(disk.label, name);
    if (disk.clone !== '' && !CLONE_REF.test(disk.clone)) {
      throw invalidDefinition(`${field}.clone`, 'must be a disk reference from snapshot info, like "s-…/ws"');
    }
    disks.push({ ...disk, name, type: disk.type as DiskType });
  }
  const mounts: NativeMount[] = [];
  const targets = new Set<string>();
  (o.mounts ?? []).forEach((m, i) => {
    const field = `options.mounts[${i}]`;
    const source = cleanPath(m.source, `${field}.source`);
    const target = cleanPath(m.target ?? source, `${field}.target`);
    if (target === '/' || SYSTEM_PATHS.some((p) => under(target, p) || under(p, target))) {
      throw invalidDefinition(`${field}.target`, `"${target}" would cover the sandbox's own ${SYSTEM_PATHS.join(', ')}`);
    }
    if (disks.some((d) => under(target, `/mnt/${d.label}`) || under(`/mnt/${d.label}`, target))) {
      throw invalidDefinition(`${field}.target`, `"${target}" overlaps a disk's mount point /mnt/<label>`);
    }
    if (targets.has(target)) throw invalidDefinition(`${field}.target`, `"${target}" is mounted twice`);
    targets.add(target);
    mounts.push({ source, target, writable: m.writable ?? false });
  });
  return { command, env, mounts, requirements: req, disks, nat: req.network === 'nat' };
}

/**
 * A mount's source must lie under one of the node's allow_mounts (checked on the path as written
 * here, and again on the resolved path at allocation: a symlink cannot lead out).
 */
export function checkMountAllowed(source: string, allow: readonly string[], field: string): void {
  if (!allow.some((dir) => under(source, dir))) {
    throw invalidDefinition(
      field,
      allow.length === 0
        ? `this node allows no host mounts (its native config has no allow_mounts)`
        : `"${source}" is not under a path this node allows (${allow.join(', ')})`,
    );
  }
}
