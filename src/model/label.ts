import { Type, type Static } from '@sinclair/typebox';
import { Duration, Metadata, Timestamp, Uid } from './common.js';

export const LabelName = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$', description: 'lowercase letters, digits, ".", "_", "-"' });

export const DiskSpec = Type.Object({
  type: Type.String({ minLength: 1, description: 'filesystem or format; each driver lists what it supports' }),
  label: Type.Optional(Type.String({ description: 'volume name; default the disk key' })),
  size: Type.Integer({ minimum: 1, description: 'GB' }),
  reuse: Type.Optional(Type.Boolean({ description: 'keep and reattach next time' })),
  clone: Type.Optional(Type.String({ description: 'create from this snapshot instead of empty' })),
});

export const RequirementsSpec = Type.Object({
  cpu: Type.Integer({ minimum: 1, description: 'CPU cores' }),
  ram: Type.Integer({ minimum: 1, description: 'memory, GB' }),
  disks: Type.Optional(Type.Record(Type.String(), DiskSpec)),
  network: Type.Optional(Type.String({ description: '"" host-only, "nat", or driver-specific' })),
});

export const LabelDefinition = Type.Object({
  driver: Type.String({ minLength: 1, description: 'driver instance: "docker", "qemu", "test", "docker/ssd"' }),
  options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  requirements: RequirementsSpec,
});
export type LabelDefinition = Static<typeof LabelDefinition>;

export const LabelCreate = Type.Object({
  name: LabelName,
  definitions: Type.Array(LabelDefinition, { minItems: 1, maxItems: 16, description: 'ordered fallbacks' }),
  metadata: Type.Optional(Metadata),
  lifetime: Type.Optional(Duration),
  wait_timeout: Type.Optional(Duration),
});
export type LabelCreate = Static<typeof LabelCreate>;

export const Label = Type.Object(
  {
    uid: Uid,
    name: LabelName,
    version: Type.Integer({ minimum: 1 }),
    definitions: Type.Array(LabelDefinition),
    metadata: Metadata,
    lifetime: Type.Optional(Duration),
    wait_timeout: Type.Optional(Duration),
    owner: Type.String({ description: "the name's owner when this version was published (reused disks are kept per owner + name)" }),
    owner_id: Type.Optional(
      Type.String({
        description: "the owner's immutable user id (a deleted user's name may be taken by a new user, who does not own this)",
      }),
    ),
    published_by: Type.Optional(Type.String({ description: 'who published this version when not its owner (an admin)' })),
    created_at: Timestamp,
  },
  { $id: 'Label' },
);
export type Label = Static<typeof Label>;

/** Who owns a label name: the publisher of its first version, or whom an admin gave it to. */
export const LabelNameOwner = Type.Object(
  {
    name: LabelName,
    owner: Type.String(),
    owner_id: Type.Optional(
      Type.String({
        description: "the owner's immutable user id (a deleted user's name may be taken by a new user, who does not own this)",
      }),
    ),
    created_at: Timestamp,
  },
  { $id: 'LabelNameOwner' },
);
export type LabelNameOwner = Static<typeof LabelNameOwner>;

export const LabelOwnerSet = Type.Object({ owner: Type.String({ minLength: 1, description: 'the user who owns the name from now on' }) });
export type LabelOwnerSet = Static<typeof LabelOwnerSet>;
