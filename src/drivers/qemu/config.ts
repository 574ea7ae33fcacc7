/**
 * The qemu driver's node-side config (`prepare(json)`): programs, data paths, acceleration,
 * network mode, boot concurrency and capacity. Every key is optional; unknown keys are refused
 * naming the key. See docs/drivers/qemu.md.
 */
import { Type } from '@sinclair/typebox';
import { parseConfigDocument } from '../shared/index.js';
import { parseDiskLimits, type DiskLimits } from '../shared/disk-space.js';
import { DiskLimitsSchema } from '../shared/option-schemas.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';
import { cpus, totalmem } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { invalidConfig } from '../../contract/index.js';
import { ipToNum, parsePool, type Pool } from '../shared/host-net.js';

export const ACCELS = ['auto', 'kvm', 'tcg'] as const;
export type Accel = (typeof ACCELS)[number];

/** How VMs are networked on the host: QEMU user-mode networking (slirp) in a network namespace per VM. */
export const HOST_NETWORK_MODES = ['user'] as const;
export type HostNetworkMode = (typeof HOST_NETWORK_MODES)[number];

/** Firmware every node knows; the config can add named files (`firmware`). */
export const BUILTIN_FIRMWARE: Readonly<Record<string, string>> = {
  /** tiny, fast: boots a kernel given with options.kernel (no disk boot) */
  qboot: '/usr/share/qemu/qboot.rom',
  /** QEMU's default BIOS (SeaBIOS): boots disks and kernels */
  seabios: '',
};

export interface QemuConfig {
  qemuSystem: string;
  qemuImg: string;
  mkfsExt4: string;
  dataDir: string;
  imageDir: string;
  /** where the per-VM unix sockets live; undefined = `<dataDir>/run`, or a short /tmp path when that is too long */
  socketDir: string | undefined;
  accel: Accel;
  network: HostNetworkMode;
  /** the Meta API's address inside every guest, port 80 */
  metaAddress: string;
  /** the pool each VM's namespace link gets a /30 from (host-net.ts) */
  vmNetwork: Pool;
  vmNetworkCidr: string;
  maxConcurrentBoots: number;
  bootHoldSeconds: number;
  shutdownTimeoutSeconds: number;
  /** how long a QMP command may take before the driver gives up (status then says it cannot tell) */
  qmpTimeoutSeconds: number;
  capacity: { cpu: number; ram: number };
  /** firmware names a definition may ask for → file ('' = QEMU default) */
  firmware: Record<string, string>;
  machine: string;
  /** disk_reserve (default "5%") and max_disk_size (GB) of the file systems holding disks */
  diskLimits: DiskLimits;
}

const text = (description: string) => Type.Optional(Type.String({ minLength: 1, description }));
const whole = (minimum: number, maximum: number, description: string) => Type.Optional(Type.Integer({ minimum, maximum, description }));
const oneOf = (values: readonly string[], description: string) =>
  Type.Optional(
    Type.Union(
      values.map((v) => Type.Literal(v)),
      { description },
    ),
  );

/** The node-side config of a qemu driver instance (docs/drivers/qemu.md lists each key in its config table). */
export const QemuConfigSchema = Type.Object(
  {
    qemu_system: text('the emulator: program name or absolute path (default qemu-system-x86_64)'),
    qemu_img: text('program name or absolute path (default qemu-img)'),
    mkfs_ext4: text('program name or absolute path (default mkfs.ext4)'),
    data_dir: text("absolute path (default the instance's data dir)"),
    image_dir: text('absolute path of the image cache (default <data_dir>/images)'),
    socket_dir: text('absolute path of the QMP sockets (default <data_dir>/run)'),
    accel: oneOf(ACCELS, 'auto (KVM when the probe passes, else TCG), kvm or tcg'),
    network: oneOf(HOST_NETWORK_MODES, 'how VMs are networked on the host: user (QEMU user-mode networking in a namespace per VM)'),
    meta_address: text('the Meta API address inside every guest (default 169.254.169.254)'),
    vm_network: text('the IPv4 pool each VM namespace link takes a /30 from (default 10.127.0.0/16)'),
    max_concurrent_boots: whole(1, 256, 'VMs booting at once (default max(2, host cores))'),
    boot_hold_seconds: whole(0, 600, "how long a boot slot is held at most before the guest's first Meta API request (default 20)"),
    shutdown_timeout_seconds: whole(0, 600, 'how long a guest gets to power off at deallocate (default 15)'),
    qmp_timeout_seconds: whole(1, 300, 'how long a QMP command may take (default 15)'),
    capacity: Type.Optional(
      Type.Object(
        { cpu: whole(1, 4096, 'cores (default the host cores)'), ram: whole(1, 1 << 20, 'GB (default host RAM GB - 1)') },
        { additionalProperties: false, description: 'what capacity() reports' },
      ),
    ),
    firmware: Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'extra firmware files labels may name: name → absolute path' }),
    ),
    machine: text('the QEMU machine type (default q35)'),
    ...DiskLimitsSchema,
  },
  { additionalProperties: false },
);

export const CONFIG_KEYS = schemaKeys(QemuConfigSchema);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(raw: Record<string, unknown>, key: string, fallback: string): string {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || v.trim() === '') throw invalidConfig(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
  return v;
}

function absPath(raw: Record<string, unknown>, key: string, fallback: string): string {
  const v = str(raw, key, fallback);
  if (!isAbsolute(v)) throw invalidConfig(key, `must be an absolute path, got ${JSON.stringify(v)}`);
  return v;
}

function int(raw: Record<string, unknown>, key: string, fallback: number, min: number, max: number, field = key): number {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidConfig(field, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** link-local, as on clouds: never routed, not the guest network's, reachable through slirp */
export const DEFAULT_META_ADDRESS = '169.254.169.254';
export const DEFAULT_VM_NETWORK = '10.127.0.0/16';

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Parse the config document; `dataDir` is the instance's data directory from the node. */
export function parseConfig(json: string, dataDir: string): QemuConfig {
  const raw = checkAgainstSchema(QemuConfigSchema, parseConfigDocument(json), {
    prefix: '',
    invalid: invalidConfig,
    unknown: 'unknown field',
  });
  const data = absPath(raw, 'data_dir', dataDir);
  const accel = str(raw, 'accel', 'auto');
  if (!(ACCELS as readonly string[]).includes(accel)) throw invalidConfig('accel', `must be one of ${ACCELS.join(', ')}, got "${accel}"`);
  const network = str(raw, 'network', 'user');
  if (!(HOST_NETWORK_MODES as readonly string[]).includes(network)) {
    throw invalidConfig('network', `must be one of ${HOST_NETWORK_MODES.join(', ')} (QEMU user-mode networking), got "${network}"`);
  }
  const metaAddress = str(raw, 'meta_address', DEFAULT_META_ADDRESS);
  if (!IPV4.test(metaAddress) || metaAddress.startsWith('10.0.2.') || /^(0|127|22[4-9]|2[3-5]\d)\./.test(metaAddress)) {
    throw invalidConfig(
      'meta_address',
      `must be an IPv4 unicast address outside the guest network 10.0.2.0/24 and 127.0.0.0/8, e.g. ${DEFAULT_META_ADDRESS}`,
    );
  }
  const vmNetworkCidr = str(raw, 'vm_network', DEFAULT_VM_NETWORK);
  const vmNetwork = parsePool(vmNetworkCidr);
  if (!vmNetwork)
    throw invalidConfig('vm_network', `must be an IPv4 network a.b.c.d/8 to /24 (the network address), e.g. ${DEFAULT_VM_NETWORK}`);
  const metaNum = ipToNum(metaAddress);
  if (metaNum >= vmNetwork.base && metaNum < vmNetwork.base + 2 ** (32 - vmNetwork.prefix)) {
    throw invalidConfig('meta_address', `must not be inside vm_network ${vmNetworkCidr}`);
  }

  const hostCpus = Math.max(1, cpus().length);
  const hostRamGb = Math.max(1, Math.floor(totalmem() / 2 ** 30) - 1);
  let capacity = { cpu: hostCpus, ram: hostRamGb };
  if (raw.capacity !== undefined && raw.capacity !== null) {
    if (!isRecord(raw.capacity)) throw invalidConfig('capacity', 'must be an object like {"cpu":4,"ram":8}');
    capacity = {
      cpu: int(raw.capacity, 'cpu', hostCpus, 1, 4096, 'capacity.cpu'),
      ram: int(raw.capacity, 'ram', hostRamGb, 1, 1 << 20, 'capacity.ram'),
    };
  }

  const firmware: Record<string, string> = { ...BUILTIN_FIRMWARE };
  if (raw.firmware !== undefined && raw.firmware !== null) {
    if (!isRecord(raw.firmware)) throw invalidConfig('firmware', 'must be an object of name → absolute file path');
    for (const [name, path] of Object.entries(raw.firmware)) {
      if (!/^[a-z0-9][a-z0-9_.-]{0,31}$/.test(name)) throw invalidConfig(`firmware.${name}`, 'names are 1–32 of a-z, 0-9, "_", "-", "."');
      if (name in BUILTIN_FIRMWARE) throw invalidConfig(`firmware.${name}`, 'is a built-in firmware name');
      if (typeof path !== 'string' || !isAbsolute(path)) throw invalidConfig(`firmware.${name}`, 'must be an absolute file path');
      firmware[name] = path;
    }
  }

  const socketDir = raw.socket_dir === undefined || raw.socket_dir === null ? undefined : absPath(raw, 'socket_dir', '/');
  const machine = str(raw, 'machine', 'q35');
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(machine)) throw invalidConfig('machine', 'must be a QEMU machine type such as q35 or pc');

  return {
    qemuSystem: str(raw, 'qemu_system', 'qemu-system-x86_64'),
    qemuImg: str(raw, 'qemu_img', 'qemu-img'),
    mkfsExt4: str(raw, 'mkfs_ext4', 'mkfs.ext4'),
    dataDir: data,
    imageDir: absPath(raw, 'image_dir', join(data, 'images')),
    socketDir,
    accel: accel as Accel,
    network: network as HostNetworkMode,
    metaAddress,
    vmNetwork,
    vmNetworkCidr,
    maxConcurrentBoots: int(raw, 'max_concurrent_boots', Math.max(2, hostCpus), 1, 256),
    bootHoldSeconds: int(raw, 'boot_hold_seconds', 20, 0, 600),
    shutdownTimeoutSeconds: int(raw, 'shutdown_timeout_seconds', 15, 0, 600),
    qmpTimeoutSeconds: int(raw, 'qmp_timeout_seconds', 15, 1, 300),
    capacity,
    firmware,
    machine,
    diskLimits: parseDiskLimits(raw),
  };
}
