/**
 * The native driver's node-side config (`prepare(json)`): where sandboxes live, the uid range they
 * run as, the cgroup tree, the network pool, which host paths labels may mount, and capacity.
 * Every key is optional; unknown keys are refused naming the key. See docs/drivers/native.md.
 */
import { Type } from '@sinclair/typebox';
import { createHash } from 'node:crypto';
import { cpus, totalmem } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';
import { invalidConfig } from '../../contract/index.js';
import { parseConfigDocument } from '../shared/index.js';
import { parseDiskLimits, type DiskLimits } from '../shared/disk-space.js';
import { ipToNum, parsePool, type Pool } from '../shared/host-net.js';
import { DiskLimitsSchema } from '../shared/option-schemas.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';

export interface NativeConfig {
  dataDir: string;
  /** per-sandbox bind sources (generated /etc files, disk mount points): every parent must be traversable */
  sandboxDir: string;
  bwrap: string;
  /** uids handed out, first..last inclusive (never a uid of the host's /etc/passwd) */
  uidFirst: number;
  uidLast: number;
  pidsLimit: number;
  cgroupRoot: string;
  /** the Meta API's address inside every sandbox, port 80 (DNATed to the sandbox's own listener) */
  metaAddress: string;
  sandboxNetwork: Pool;
  sandboxNetworkCidr: string;
  /** host directories (or files) below which labels may mount paths */
  allowMounts: string[];
  capacity: { cpu: number; ram: number };
  diskLimits: DiskLimits;
  /** identifies this instance's cgroups, namespaces, chains and uid claims: sha256(dataDir), 12 hex */
  tag: string;
}

const text = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));
const whole = (minimum: number, maximum: number, description: string) => Type.Optional(Type.Integer({ minimum, maximum, description }));

/** The node-side config of a native driver instance (docs/drivers/native.md lists each key). */
export const NativeConfigSchema = Type.Object(
  {
    data_dir: text("absolute path (default the instance's data dir)"),
    sandbox_dir: text('absolute path of the per-sandbox bind sources (default /run/shoal-native/<instance tag>)'),
    bwrap: text('bubblewrap: program name or absolute path (default bwrap)'),
    uid_range: Type.Optional(
      Type.String({
        pattern: '^[0-9]{1,10}-[0-9]{1,10}$',
        problem: 'must be "FIRST-LAST", e.g. "200000-201999"',
        description: 'uids sandboxes run as, FIRST-LAST (default 200000-201999); uids of /etc/passwd are skipped',
      }),
    ),
    pids_limit: whole(8, 4_194_304, 'most processes and threads one sandbox may hold (default 1024)'),
    cgroup_root: text('where the cgroup file system is mounted (default /sys/fs/cgroup; v1 or v2 is detected)'),
    meta_address: text('the Meta API address inside every sandbox, port 80 (default 169.254.169.254)'),
    sandbox_network: text('the IPv4 pool each sandbox link takes a /30 from (default 10.126.0.0/16)'),
    allow_mounts: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 256,
        description: 'absolute host paths below which labels may mount (options.mounts); default none',
      }),
    ),
    capacity: Type.Optional(
      Type.Object(
        { cpu: whole(1, 4096, 'cores (default the host cores)'), ram: whole(1, 1 << 20, 'GB (default host RAM GB - 1)') },
        { additionalProperties: false, description: 'what capacity() reports' },
      ),
    ),
    ...DiskLimitsSchema,
  },
  { additionalProperties: false },
);

export const CONFIG_KEYS = schemaKeys(NativeConfigSchema);

export const DEFAULT_META_ADDRESS = '169.254.169.254';
export const DEFAULT_SANDBOX_NETWORK = '10.126.0.0/16';
const DEFAULT_UID_RANGE = '200000-201999';
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
/** plain absolute paths only: they end up in bwrap arguments and mount tables */
const PLAIN_PATH = /^\/[A-Za-z0-9/._+-]*$/;

function absolute(value: string | undefined, key: string, fallback: string): string {
  const v = value ?? fallback;
  if (!isAbsolute(v) || !PLAIN_PATH.test(v) || v.split('/').includes('..')) {
    throw invalidConfig(key, `must be an absolute path of letters, digits, "/", ".", "_", "+" or "-", got ${JSON.stringify(v)}`);
  }
  return normalize(v).replace(/(.)\/$/, '$1');
}

/** Parse the config document; `dataDir` is the instance's data directory from the node. */
export function parseConfig(json: string, dataDir: string): NativeConfig {
  const raw = checkAgainstSchema(NativeConfigSchema, parseConfigDocument(json), {
    prefix: '',
    invalid: invalidConfig,
    unknown: 'unknown field',
  });
  const data = absolute(raw.data_dir, 'data_dir', dataDir);
  const tag = createHash('sha256').update(data).digest('hex').slice(0, 12);
  const [first, last] = (raw.uid_range ?? DEFAULT_UID_RANGE).split('-').map(Number) as [number, number];
  if (first < 1000 || last > 4_294_967_294 || last < first) {
    throw invalidConfig('uid_range', `must be FIRST-LAST with 1000 ≤ FIRST ≤ LAST < 4294967295, got "${raw.uid_range ?? ''}"`);
  }
  const metaAddress = raw.meta_address ?? DEFAULT_META_ADDRESS;
  if (!IPV4.test(metaAddress) || /^(0|127|22[4-9]|2[3-5]\d)\./.test(metaAddress)) {
    throw invalidConfig('meta_address', `must be an IPv4 unicast address outside 127.0.0.0/8, e.g. ${DEFAULT_META_ADDRESS}`);
  }
  const cidr = raw.sandbox_network ?? DEFAULT_SANDBOX_NETWORK;
  const pool = parsePool(cidr);
  if (!pool)
    throw invalidConfig(
      'sandbox_network',
      `must be an IPv4 network a.b.c.d/8 to /24 (the network address), e.g. ${DEFAULT_SANDBOX_NETWORK}`,
    );
  const metaNum = ipToNum(metaAddress);
  if (metaNum >= pool.base && metaNum < pool.base + 2 ** (32 - pool.prefix)) {
    throw invalidConfig('meta_address', `must not be inside sandbox_network ${cidr}`);
  }
  const allowMounts = (raw.allow_mounts ?? []).map((p, i) => absolute(p, `allow_mounts[${i}]`, p));
  allowMounts.forEach((p, i) => {
    if (p === '/') throw invalidConfig(`allow_mounts[${i}]`, 'must not be "/" (name the directories labels may mount)');
  });
  const hostCpus = Math.max(1, cpus().length);
  const hostRamGb = Math.max(1, Math.floor(totalmem() / 2 ** 30) - 1);
  return {
    dataDir: data,
    sandboxDir: absolute(raw.sandbox_dir, 'sandbox_dir', join('/run/shoal-native', tag)),
    bwrap: raw.bwrap ?? 'bwrap',
    uidFirst: first,
    uidLast: last,
    pidsLimit: raw.pids_limit ?? 1024,
    cgroupRoot: absolute(raw.cgroup_root, 'cgroup_root', '/sys/fs/cgroup'),
    metaAddress,
    sandboxNetwork: pool,
    sandboxNetworkCidr: cidr,
    allowMounts,
    capacity: { cpu: raw.capacity?.cpu ?? hostCpus, ram: raw.capacity?.ram ?? hostRamGb },
    diskLimits: parseDiskLimits(raw),
    tag,
  };
}
