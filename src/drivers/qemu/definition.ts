/**
 * The qemu driver's label definition: `options` (what to boot) + the common requirements.
 *
 *   options.images   [{url,sum}, …]  disk images (qcow2 or raw, optionally gz/xz/zstd); the first is the
 *                                     boot disk, the others extra disks; each VM writes to its own overlay
 *   options.kernel   {url,sum}       a kernel to boot directly (with or without images)
 *   options.initrd   {url,sum}       its initramfs (needs kernel)
 *   options.append   string          its command line (needs kernel; console=ttyS0 is added when absent)
 *   options.firmware string          a firmware the node allows: qboot, seabios, a name from its config, or
 *                                     the absolute path of one of the config's firmware files
 *
 * requirements: cpu → vCPUs, ram → GB of memory, disks of type qcow2 | raw | ext4, network "" | "nat".
 */
import { Type } from '@sinclair/typebox';
import { invalidDefinition, parseDefinition, type Requirements } from '../../contract/index.js';
import { parseImageRef, type ImageRef } from '../shared/index.js';
import { ImageRefSchema } from '../shared/option-schemas.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';

export const DISK_TYPES = ['qcow2', 'raw', 'ext4'] as const;

/** Guest networks: "" = host-only (only the Meta API is reachable), "nat" = outbound allowed. */
export const GUEST_NETWORKS = ['', 'nat'] as const;

export const MAX_IMAGES = 8;
export const MAX_APPEND = 4096;

/** A qemu label definition's `options` (docs/drivers/qemu.md lists each in its options table). */
export const QemuOptionsSchema = Type.Object(
  {
    images: Type.Optional(
      Type.Array(ImageRefSchema, {
        maxItems: MAX_IMAGES,
        description: 'disk images (qcow2 or raw, optionally gz/xz/zstd); the first is the boot disk',
      }),
    ),
    kernel: Type.Optional({ ...ImageRefSchema, description: 'a kernel to boot directly (with or without images)' }),
    initrd: Type.Optional({ ...ImageRefSchema, description: 'its initramfs (needs kernel)' }),
    append: Type.Optional(
      Type.String({
        maxLength: MAX_APPEND,
        problem: `must be a string (the kernel command line) of at most ${MAX_APPEND} characters`,
        description: 'the kernel command line (needs kernel)',
      }),
    ),
    firmware: Type.Optional(
      Type.String({ minLength: 1, description: "qboot, seabios, a name from the node's firmware config, or the path of one of its files" }),
    ),
  },
  { additionalProperties: false },
);

export const OPTION_KEYS = schemaKeys(QemuOptionsSchema);
/** virtio-blk serial numbers are at most 20 bytes; disks are named to the guest by their label */
export const MAX_SERIAL = 20;

export interface QemuDefinition {
  images: ImageRef[];
  kernel: ImageRef | undefined;
  initrd: ImageRef | undefined;
  append: string;
  /** a firmware name ('' = chosen by boot mode: qboot for a kernel, seabios for disks) */
  firmware: string;
  requirements: Requirements;
}

/** `<snapshot id>/<disk name>` or an absolute path: checked against the snapshot dir at allocate. */
const CLONE_REF = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,127}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}|\/[^\0]+)$/;

/**
 * Parse and check a definition. `firmware` is what this node allows (name → file, '' = QEMU's
 * default); throws DriverError INVALID_DEFINITION naming the field.
 */
export function parseQemuDefinition(json: string, firmware: Readonly<Record<string, string>>): QemuDefinition {
  const firmwareNames = Object.keys(firmware);
  const parsed = parseDefinition(json);
  const { requirements } = parsed;
  const options = checkAgainstSchema(QemuOptionsSchema, parsed.options, {
    prefix: 'options.',
    invalid: invalidDefinition,
    unknown: 'unknown option',
  });

  const images: ImageRef[] = (options.images ?? []).map((img, i) => parseImageRef(img, `options.images[${i}]`));
  const kernel = options.kernel === undefined ? undefined : parseImageRef(options.kernel, 'options.kernel');
  const initrd = options.initrd === undefined ? undefined : parseImageRef(options.initrd, 'options.initrd');
  if (images.length === 0 && !kernel) {
    throw invalidDefinition('options.images', 'is required: give a boot disk in options.images or a kernel in options.kernel');
  }
  if (initrd && !kernel) throw invalidDefinition('options.initrd', 'needs options.kernel');

  let append = '';
  if (options.append !== undefined) {
    if (!kernel) throw invalidDefinition('options.append', 'needs options.kernel');
    // eslint-disable-next-line no-control-regex -- control characters are what this refuses
    if (/[\0-\x1f\x7f]/.test(options.append)) throw invalidDefinition('options.append', 'must be one line without control characters');
    append = options.append;
  }

  let firmwareName = '';
  if (options.firmware !== undefined) {
    const wanted = options.firmware;
    // a name, or the path of an allowed file (given as its name)
    const name = firmwareNames.includes(wanted) ? wanted : firmwareNames.find((n) => wanted.startsWith('/') && firmware[n] === wanted);
    if (!name) {
      throw invalidDefinition('options.firmware', `"${wanted}" is not allowed on this node (allowed: ${firmwareNames.join(', ')})`);
    }
    if (firmware[name] === firmware.qboot && !kernel) {
      throw invalidDefinition('options.firmware', 'qboot cannot boot from a disk: use seabios, or give options.kernel');
    }
    firmwareName = name;
  }

  if (!(GUEST_NETWORKS as readonly string[]).includes(requirements.network)) {
    throw invalidDefinition('requirements.network', `must be "" (host-only) or "nat", got "${requirements.network}"`);
  }
  const serials = new Map<string, string>();
  images.forEach((_, i) => serials.set(imageSerial(i), `options.images[${i}]`));
  for (const [name, disk] of Object.entries(requirements.disks)) {
    const field = `requirements.disks.${name}`;
    if (!(DISK_TYPES as readonly string[]).includes(disk.type)) {
      throw invalidDefinition(`${field}.type`, `"${disk.type}" is not supported (qemu disks: ${DISK_TYPES.join(', ')})`);
    }
    if (disk.clone !== '' && !CLONE_REF.test(disk.clone)) {
      throw invalidDefinition(`${field}.clone`, 'must be "<snapshot id>/<disk name>" (or its path) from a qemu snapshot');
    }
    if (disk.clone !== '' && disk.reuse) {
      throw invalidDefinition(`${field}.clone`, 'a disk cannot be both reused and cloned');
    }
    const serial = diskSerial(disk.label);
    const other = serials.get(serial);
    if (other) throw invalidDefinition(`${field}.label`, `the guest would see the same disk name "${serial}" as ${other}`);
    serials.set(serial, field);
  }
  return { images, kernel, initrd, append, firmware: firmwareName, requirements };
}

/**
 * Every URL a definition fetches, with the field it came from (checked against the node's fetch
 * policy). `firmware` is not a URL: it names a file the node config lists.
 */
export function definitionUrls(def: QemuDefinition): Array<{ field: string; url: string }> {
  return [
    ...def.images.map((ref, i) => ({ field: `options.images[${i}].url`, url: ref.url })),
    ...(def.kernel ? [{ field: 'options.kernel.url', url: def.kernel.url }] : []),
    ...(def.initrd ? [{ field: 'options.initrd.url', url: def.initrd.url }] : []),
  ];
}

/** The name the guest sees for a disk (virtio serial, /sys/block/vdX/serial). */
export function diskSerial(label: string): string {
  return label.slice(0, MAX_SERIAL);
}

/** The name the guest sees for image i: the boot disk is "root", further images "image1", "image2"… */
export function imageSerial(index: number): string {
  return index === 0 ? 'root' : `image${index}`;
}
