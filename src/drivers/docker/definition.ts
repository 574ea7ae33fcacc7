import { Type } from '@sinclair/typebox';
import { invalidDefinition, parseDefinition, type Disk, type Requirements } from '../../contract/index.js';
import { parseImageRef, type ImageRef } from '../shared/index.js';
import { ImageRefSchema } from '../shared/option-schemas.js';
import { checkAgainstSchema, schemaKeys } from '../shared/schema-check.js';

/** Disk types this driver supports: a host directory, or a loop-mounted sparse file system (size enforced). */
export const DISK_TYPES = ['dir', 'ext4', 'xfs'] as const;
export type DiskType = (typeof DISK_TYPES)[number];

/** Networks: "" = host-only (only the node's Meta API is reachable), "nat" = outbound allowed. */
export const NETWORKS = ['', 'nat'] as const;
export type NetworkKind = 'hostonly' | 'nat';

export interface DockerDisk extends Disk {
  /** disk key in requirements.disks */
  name: string;
  type: DiskType;
}

/** When a registry image is pulled: only when the daemon lacks it (default), or at every allocation. */
export const PULL_POLICIES = ['missing', 'always'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

export interface DockerOptions {
  /** image to run: a reference (loaded from `images`, else pulled from its registry) or an image id */
  image: string;
  images: ImageRef[];
  /** registry images (no `images`): when to pull */
  pull: PullPolicy;
  command: string[] | undefined;
  entrypoint: string[] | undefined;
  env: Record<string, string>;
  user: string | undefined;
}

export interface DockerDefinition {
  options: DockerOptions;
  requirements: Requirements;
  disks: DockerDisk[];
  network: NetworkKind;
}

const MAX_IMAGES = 16;
const commandList = (description: string) =>
  Type.Optional(
    Type.Array(Type.String(), { minItems: 1, problem: 'must be a non-empty array of strings, e.g. ["sleep","3600"]', description }),
  );

/** A docker label definition's `options` (docs/drivers/docker.md lists each in its options table). */
export const DockerOptionsSchema = Type.Object(
  {
    image: Type.String({
      minLength: 1,
      maxLength: 255,
      problem: 'must be an image reference such as "busybox:latest" (at most 255 characters)',
      description:
        'the image to run: a reference (debian:12, host:port/ns/name:tag, name@sha256:<digest>) pulled from its registry ' +
        'when options.images is absent, else found in those archives; or sha256:<id> of an image the daemon has',
    }),
    pull: Type.Optional(
      Type.Union([Type.Literal('missing'), Type.Literal('always')], {
        description: 'registry images: "missing" pulls only when the daemon lacks the image (default), "always" at every allocation',
      }),
    ),
    images: Type.Optional(
      Type.Array(ImageRefSchema, {
        maxItems: MAX_IMAGES,
        description: 'archives to load first (docker save archives or root file systems)',
      }),
    ),
    command: commandList('the command (Cmd)'),
    entrypoint: commandList("replaces the image's entrypoint"),
    env: Type.Optional(Type.Record(Type.String(), Type.String(), { description: 'extra environment variables, NAME → string' })),
    user: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$',
        problem: 'must be "user", "uid" or "uid:gid"',
        description: 'user, uid or uid:gid',
      }),
    ),
  },
  { additionalProperties: false },
);

export const OPTION_KEYS = schemaKeys(DockerOptionsSchema);
// name[:tag][@digest] with an optional registry host[:port]; or a bare image id
const IMAGE_REF =
  /^(?:(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*(?::[0-9]+)?)\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$/;
export const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** clone values are "<snapshot id>/<disk name>", as snapshot() reports them */
export const CLONE_REF = /^(s-[a-z0-9-]{1,80})\/([A-Za-z0-9][A-Za-z0-9_.-]{0,62})$/;
/** command/entrypoint: the schema checked the list; a NUL would cut the argument short */
function argList(v: string[] | undefined, field: string): string[] | undefined {
  v?.forEach((s, i) => {
    if (s.includes('\0')) throw invalidDefinition(`${field}[${i}]`, 'must not contain NUL');
  });
  return v;
}

function parseOptions(raw: Record<string, unknown>): DockerOptions {
  const o = checkAgainstSchema(DockerOptionsSchema, raw, { prefix: 'options.', invalid: invalidDefinition, unknown: 'unknown option' });
  if (!(IMAGE_REF.test(o.image) || IMAGE_ID.test(o.image))) {
    throw invalidDefinition('options.image', `"${o.image}" is not a valid image reference (name[:tag], lower-case)`);
  }
  const images = (o.images ?? []).map((r, i) => parseImageRef(r, `options.images[${i}]`));
  if (o.pull !== undefined && images.length > 0) {
    throw invalidDefinition('options.pull', 'applies to registry images only: drop it, or drop options.images to pull options.image');
  }
  if (o.pull === 'always' && IMAGE_ID.test(o.image)) {
    throw invalidDefinition('options.pull', 'an image id cannot be pulled: give options.image as name:tag or name@sha256:<digest>');
  }
  for (const k of Object.keys(o.env ?? {})) {
    if (!ENV_NAME.test(k)) throw invalidDefinition(`options.env.${k}`, 'is not a valid variable name (letters, digits, "_")');
  }
  return {
    image: o.image,
    images,
    pull: o.pull ?? 'missing',
    command: argList(o.command, 'options.command'),
    entrypoint: argList(o.entrypoint, 'options.entrypoint'),
    env: { ...o.env },
    user: o.user,
  };
}

/** Every URL a definition fetches, with the field it came from (checked against the node's fetch policy). */
export function definitionUrls(options: DockerOptions): Array<{ field: string; url: string }> {
  return options.images.map((ref, i) => ({ field: `options.images[${i}].url`, url: ref.url }));
}

/** Parse and check a docker definition; throws DriverError INVALID_DEFINITION naming the field. */
export function parseDockerDefinition(definition: string): DockerDefinition {
  const def = parseDefinition(definition);
  const options = parseOptions(def.options);
  const req = def.requirements;
  if (!(NETWORKS as readonly string[]).includes(req.network)) {
    throw invalidDefinition('requirements.network', `"${req.network}" is not supported by docker (use "" for host-only or "nat")`);
  }
  const disks: DockerDisk[] = [];
  const mountLabels = new Map<string, string>();
  for (const [name, disk] of Object.entries(req.disks)) {
    const field = `requirements.disks.${name}`;
    if (!(DISK_TYPES as readonly string[]).includes(disk.type)) {
      throw invalidDefinition(`${field}.type`, `"${disk.type}" is not supported by docker (use ${DISK_TYPES.join(', ')})`);
    }
    const other = mountLabels.get(disk.label);
    if (other !== undefined) {
      throw invalidDefinition(
        `${field}.label`,
        `"${disk.label}" is already used by disk "${other}" (each disk is mounted at /mnt/<label>)`,
      );
    }
    mountLabels.set(disk.label, name);
    if (disk.clone !== '' && !CLONE_REF.test(disk.clone)) {
      throw invalidDefinition(`${field}.clone`, 'must be a disk reference from snapshot info, like "s-…/ws"');
    }
    disks.push({ ...disk, name, type: disk.type as DiskType });
  }
  return { options, requirements: req, disks, network: req.network === 'nat' ? 'nat' : 'hostonly' };
}
