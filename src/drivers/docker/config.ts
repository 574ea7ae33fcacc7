import { Type } from '@sinclair/typebox';
import { parseConfigDocument } from '../shared/index.js';
import { parseDiskLimits, type DiskLimits } from '../shared/disk-space.js';
import { DiskLimitsSchema } from '../shared/option-schemas.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';
import { isAbsolute, join } from 'node:path';
import { invalidConfig } from '../../contract/index.js';
import { slug } from './names.js';
import { parseRegistrySettings, RegistryConfigSchema, type RegistrySettings } from './registry-config.js';

/** The node-side config of one docker driver instance (all fields optional in the JSON). */
export interface DockerConfig {
  /** Engine API unix socket */
  socket: string;
  /** image cache (downloaded archives, by checksum) */
  imagesDir: string;
  /** per-resource and reused disks */
  workspaceDir: string;
  /** disk copies made by snapshot() */
  snapshotsDir: string;
  /** docker network names for network "" (host-only) and "nat" */
  networks: { hostonly: string; nat: string };
  /** TCP port of the Meta API listener opened on each network's gateway address */
  metaPort: number;
  /** container creates+starts running at once */
  maxParallelStarts: number;
  /** seconds a container gets after SIGTERM before it is killed */
  stopTimeout: number;
  /** PidsLimit of every container */
  pidsLimit: number;
  /** capacity override (cores, GB); absent = the daemon's NCPU / MemTotal */
  cpu: number | undefined;
  ram: number | undefined;
  /** disk_reserve (default "5%") and max_disk_size (GB) of the workspace's file system */
  diskLimits: DiskLimits;
  /** bytes of daemon images the driver loaded or pulled above which unused ones are evicted (LRU) */
  imageCacheMaxBytes: number;
  /** registries labels may pull from, their credentials, the pull timeout */
  registries: RegistrySettings;
}

const path = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));
const whole = (minimum: number, maximum: number, description: string) => Type.Optional(Type.Integer({ minimum, maximum, description }));

/** The node-side config of a docker driver instance (docs/drivers/docker.md lists each key in its config table). */
export const DockerConfigSchema = Type.Object(
  {
    socket: path('absolute path of the Engine API socket (default /var/run/docker.sock)'),
    images_dir: path('absolute path of the image cache (default <data dir>/images)'),
    workspace_dir: path('absolute path of per-resource and reused disks (default <data dir>/workspaces)'),
    snapshots_dir: path('absolute path of disk copies made by snapshot (default <data dir>/snapshots)'),
    networks: Type.Optional(
      Type.Object(
        { hostonly: Type.Optional(Type.String({ minLength: 1 })), nat: Type.Optional(Type.String({ minLength: 1 })) },
        { additionalProperties: false, description: 'docker network names for network "" (host-only) and "nat"' },
      ),
    ),
    meta_port: whole(1, 65535, 'port of the Meta API listener on each network gateway (default 80)'),
    max_parallel_starts: whole(1, 1024, 'container creates+starts running at once (default 8)'),
    stop_timeout: whole(0, 3600, 'seconds after SIGTERM before SIGKILL (default 10)'),
    pids_limit: whole(16, 4_194_304, 'PidsLimit of every container (default 4096)'),
    cpu: whole(1, 65536, "capacity cores (default the daemon's NCPU)"),
    ram: whole(1, 16_777_216, "capacity GB (default the daemon's MemTotal)"),
    ...DiskLimitsSchema,
    ...RegistryConfigSchema,
    image_cache_max_gb: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1_000_000,
        problem: 'must be a number of GB above 0, e.g. 50 or 0.5',
        description:
          'size bound (GB) of the images this instance loaded or pulled into the daemon; least recently used unused ones are removed beyond it (default 50)',
      }),
    ),
  },
  { additionalProperties: false },
);

export const CONFIG_KEYS = schemaKeys(DockerConfigSchema);

const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(doc: Record<string, unknown>, key: string, dflt: string, path = key): string {
  const v = doc[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'string' || v === '') throw invalidConfig(path, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function absPath(doc: Record<string, unknown>, key: string, dflt: string): string {
  const v = str(doc, key, dflt);
  if (!isAbsolute(v)) throw invalidConfig(key, `must be an absolute path, got ${JSON.stringify(v)}`);
  return v;
}

function int(doc: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = doc[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidConfig(key, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parse the JSON config ("" or "{}" = all defaults); throws DriverError INVALID_CONFIG naming the field. */
export function parseDockerConfig(json: string, dataDir: string, instance: string): DockerConfig {
  const raw = checkAgainstSchema(DockerConfigSchema, parseConfigDocument(json), {
    prefix: '',
    invalid: invalidConfig,
    unknown: 'unknown field',
  });
  const base = `shoal-${slug(instance).replace(/^-+/, '')}`;
  let networks = { hostonly: `${base}-hostonly`, nat: `${base}-nat` };
  if (raw.networks !== undefined && raw.networks !== null) {
    if (!isRecord(raw.networks)) throw invalidConfig('networks', 'must be an object {"hostonly":"…","nat":"…"}');
    networks = {
      hostonly: str(raw.networks, 'hostonly', networks.hostonly, 'networks.hostonly'),
      nat: str(raw.networks, 'nat', networks.nat, 'networks.nat'),
    };
  }
  for (const [k, v] of Object.entries(networks)) {
    if (!NETWORK_NAME.test(v)) throw invalidConfig(`networks.${k}`, 'must be 1–63 letters, digits, "_", "-" or "."');
  }
  if (networks.hostonly === networks.nat) throw invalidConfig('networks.nat', 'must differ from networks.hostonly');
  return {
    socket: absPath(raw, 'socket', '/var/run/docker.sock'),
    imagesDir: absPath(raw, 'images_dir', join(dataDir, 'images')),
    workspaceDir: absPath(raw, 'workspace_dir', join(dataDir, 'workspaces')),
    snapshotsDir: absPath(raw, 'snapshots_dir', join(dataDir, 'snapshots')),
    networks,
    metaPort: int(raw, 'meta_port', 1, 65535) ?? 80,
    maxParallelStarts: int(raw, 'max_parallel_starts', 1, 1024) ?? 8,
    stopTimeout: int(raw, 'stop_timeout', 0, 3600) ?? 10,
    pidsLimit: int(raw, 'pids_limit', 16, 4_194_304) ?? 4096,
    cpu: int(raw, 'cpu', 1, 65536),
    ram: int(raw, 'ram', 1, 16_777_216),
    diskLimits: parseDiskLimits(raw),
    registries: parseRegistrySettings(raw),
    imageCacheMaxBytes: Math.floor((raw.image_cache_max_gb ?? 50) * 1024 ** 3),
  };
}
