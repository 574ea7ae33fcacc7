import { Type, type Static } from '@sinclair/typebox';
import { Timestamp } from './common.js';

export const DriverInstanceInfo = Type.Object({
  instance: Type.String({ description: 'instance name, e.g. "docker" or "docker/ssd"' }),
  driver: Type.String(),
  enabled: Type.Boolean(),
  health: Type.Union([Type.Literal('healthy'), Type.Literal('unhealthy'), Type.Literal('undetected')]),
  description: Type.String({ description: 'why it is disabled or unhealthy, or what it runs on' }),
  attributes: Type.Record(Type.String(), Type.String()),
  capacity: Type.Optional(Type.Object({ cpu: Type.Number(), ram: Type.Number() })),
});
export type DriverInstanceInfo = Static<typeof DriverInstanceInfo>;

/** Disk the node's state takes (GET /nodes/this only; measured at most every few seconds). */
export const NodeStorage = Type.Object(
  {
    database_bytes: Type.Integer({ description: 'SQLite: the database file; PostgreSQL: the tables of this store (with indexes)' }),
    wal_bytes: Type.Union([Type.Integer(), Type.Null()], { description: "SQLite's write-ahead log; null on PostgreSQL" }),
    data_dir_bytes: Type.Union([Type.Integer(), Type.Null()], {
      description: 'everything under the data dir (database, image cache, disks, driver state), allocated bytes',
    }),
    measured_at: Timestamp,
  },
  { $id: 'NodeStorage' },
);
export type NodeStorage = Static<typeof NodeStorage>;

export const NodeInfo = Type.Object(
  {
    name: Type.String(),
    address: Type.String({ description: 'API URL of the node' }),
    capacity: Type.Object({
      cpu: Type.Number({ description: 'cores' }),
      ram: Type.Number({ description: 'GB' }),
      cpu_overbook: Type.Number(),
      ram_overbook: Type.Number(),
    }),
    used: Type.Object({ cpu: Type.Number(), ram: Type.Number() }),
    tags: Type.Record(Type.String(), Type.String()),
    drivers: Type.Array(DriverInstanceInfo),
    maintenance: Type.Boolean(),
    alive: Type.Boolean(),
    heartbeat_at: Timestamp,
    started_at: Timestamp,
    lost_at: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'when the node was declared lost (silent longer than node_lost_after, by the database clock): its work was ended then; gone once it has reconciled its host after coming back',
      }),
    ),
    ssh_gate: Type.Optional(
      Type.Object(
        {
          address: Type.String({ description: 'host:port of the SSH gate (`ssh -p PORT <application uid>@host`)' }),
          fingerprint: Type.String({ description: 'SHA256 fingerprint of its host key, as `ssh-keygen -l` prints it' }),
        },
        { description: 'the SSH gate into environments; only the node itself reports it' },
      ),
    ),
    not_taking_work: Type.Optional(
      Type.String({
        description:
          'why this node takes no new work now although it serves reads and keeps its resources (e.g. its data dir is full); only the node itself reports it',
      }),
    ),
    storage: Type.Optional(NodeStorage),
  },
  { $id: 'Node' },
);
export type NodeInfo = Static<typeof NodeInfo>;

/** What `shoal node forget` did: the node's row is gone and its applications ended. */
export const NodeForgotten = Type.Object(
  {
    name: Type.String(),
    lost_at: Timestamp,
    requeued: Type.Integer({ description: 'ELECTED applications put back in the queue' }),
    failed: Type.Integer({ description: 'ALLOCATED applications moved to ERROR' }),
    deallocated: Type.Integer({ description: 'DEALLOCATE applications moved to DEALLOCATED' }),
  },
  { $id: 'NodeForgotten' },
);
export type NodeForgotten = Static<typeof NodeForgotten>;

/** A cached image, kept disk or snapshot a driver instance of a node keeps (admins: GET /nodes/{name}/images|disks). */
export const StoredItem = Type.Object(
  {
    driver: Type.String({ description: 'the driver instance that keeps it ("docker", "qemu/big")' }),
    id: Type.String({ description: "the driver's id of it: DELETE …/images/{id} or …/disks/{id} (with ?driver= when ids repeat)" }),
    kind: Type.String({ description: 'image, reused-disk, snapshot, …' }),
    name: Type.String({ description: 'what it is in words (image references, label and disk name)' }),
    bytes: Type.Integer({ description: 'space it takes on the host' }),
    last_used: Type.String({ description: 'ISO 8601 time of its last use, "" when unknown' }),
    in_use: Type.Boolean({ description: 'a resource uses it now (removing it answers 409)' }),
  },
  { $id: 'StoredItem' },
);
export type StoredItem = Static<typeof StoredItem>;
