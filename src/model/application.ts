import { Type, type Static } from '@sinclair/typebox';
import { ApplicationStatus } from './application-status.js';
import { Duration, Metadata, Timestamp, Uid } from './common.js';
import { LabelName } from './label.js';

export const ApplicationState = Type.Object(
  {
    status: ApplicationStatus,
    description: Type.String(),
    created_at: Timestamp,
  },
  { $id: 'ApplicationState' },
);
export type ApplicationState = Static<typeof ApplicationState>;

export const ApplicationCreate = Type.Object({
  label: LabelName,
  version: Type.Optional(Type.Integer({ minimum: 1, description: 'label version; omitted = latest' })),
  metadata: Type.Optional(Metadata),
  lifetime: Type.Optional(Duration),
  wait_timeout: Type.Optional(Duration),
});
export type ApplicationCreate = Static<typeof ApplicationCreate>;

export const Application = Type.Object(
  {
    uid: Uid,
    label_uid: Uid,
    owner: Type.String(),
    owner_id: Type.Optional(
      Type.String({
        description: "the owner's immutable user id (a deleted user's name may be taken by a new user, who does not own this)",
      }),
    ),
    metadata: Metadata,
    lifetime: Type.Optional(Duration),
    created_at: Timestamp,
    state: ApplicationState,
  },
  { $id: 'Application' },
);
export type Application = Static<typeof Application>;

export const Resource = Type.Object(
  {
    application_uid: Uid,
    node: Type.String(),
    driver: Type.String({ description: 'driver instance' }),
    definition_index: Type.Integer({ minimum: 0 }),
    hwaddr: Type.String(),
    ipaddr: Type.String({ description: '"" when the driver gives none' }),
    metadata: Metadata,
    expires_at: Type.Union([Timestamp, Type.Null()]),
    created_at: Timestamp,
  },
  { $id: 'Resource' },
);
export type Resource = Static<typeof Resource>;

/** One entry of GET /events: a state change of an application. */
export const StateEvent = Type.Object({
  id: Type.String({ description: 'event id, monotonic; send as Last-Event-ID to resume' }),
  application_uid: Uid,
  status: ApplicationStatus,
  description: Type.String(),
  created_at: Timestamp,
});
export type StateEvent = Static<typeof StateEvent>;
