import type { AccessRepository } from './repositories/access.js';
import type { ApplicationsRepository } from './repositories/applications.js';
import type { EventsRepository } from './repositories/events.js';
import type { LabelsRepository } from './repositories/labels.js';
import type { MaintenanceRepository } from './repositories/maintenance.js';
import type { LostNodesRepository } from './repositories/lost-nodes.js';
import type { NodesRepository } from './repositories/nodes.js';
import type { ResourcesRepository } from './repositories/resources.js';
import type { TasksRepository } from './repositories/tasks.js';
import type { UsersRepository } from './repositories/users.js';
import type { StorageSize } from './dialect.js';
import type { StoreCapabilities, StoreSignal } from './types.js';

export * from './types.js';
export type { ForgetRefusal, NodeWorkEnded } from './repositories/lost-nodes.js';
export type {
  AccessRepository,
  ApplicationsRepository,
  EventsRepository,
  LabelsRepository,
  LostNodesRepository,
  NodesRepository,
  ResourcesRepository,
  TasksRepository,
  UsersRepository,
};

/**
 * The persistence interface the core uses: one repository per aggregate (src/store/repositories/),
 * composed. One implementation (Kysely, kysely-store.ts) serves SQLite and PostgreSQL; every method
 * is a short transaction or a single statement.
 */
export interface Store
  extends
    UsersRepository,
    LabelsRepository,
    ApplicationsRepository,
    ResourcesRepository,
    EventsRepository,
    TasksRepository,
    NodesRepository,
    AccessRepository,
    LostNodesRepository,
    MaintenanceRepository {
  readonly dialect: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  close(): Promise<void>;

  /** Bytes the database takes on disk (SQLite: the file and its WAL; PostgreSQL: this schema's tables). */
  storageSize(): Promise<StorageSize>;
  /** Returns pages freed by deletions to the file system (SQLite incremental vacuum; 0 elsewhere). */
  reclaimSpace(): Promise<number>;
  /** Writes a consistent copy of the live database to `dest` (SQLite); StoreError UNSUPPORTED elsewhere. */
  backup(dest: string): Promise<void>;

  /** Listen to wake-ups (local commits and, on PostgreSQL, other nodes). */
  onSignal(listener: (signal: StoreSignal) => void): () => void;
  /** Send wake-ups outside a transaction. */
  notify(signals: readonly StoreSignal[]): Promise<void>;
}
