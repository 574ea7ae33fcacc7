import type { ApplicationRow } from './store.js';

/**
 * Table shapes as Kysely sees them. Dialect-neutral column types: TEXT for strings, times (ISO 8601)
 * and JSON documents; INTEGER 0/1 for booleans; BIGINT ids (parsed to numbers on PostgreSQL).
 */
export interface CountersTable {
  name: string;
  value: number;
}

export interface UsersTable {
  name: string;
  role: string;
  token_id: string;
  token_hash: string;
  created_at: string;
}

export interface LabelsTable {
  uid: string;
  name: string;
  version: number;
  definitions: string;
  metadata: string;
  lifetime: string | null;
  wait_timeout: string | null;
  owner: string;
  created_at: string;
  deleted_at: string | null;
  /** who published the version when not its owner (an admin); null = the owner */
  published_by: string | null;
}

/** One row per label name ever published: its owner (names stay owned when their versions are deleted). */
export interface LabelNamesTable {
  name: string;
  owner: string;
  created_at: string;
}

/** The applications table: the store's ApplicationRow with metadata as JSON text and status as text. */
export type ApplicationsTable = Omit<ApplicationRow, 'metadata' | 'status'> & {
  metadata: string;
  status: string;
};

export interface ApplicationStatesTable {
  id: number;
  application_uid: string;
  owner: string;
  status: string;
  description: string;
  created_at: string;
}

export interface ResourcesTable {
  application_uid: string;
  owner: string;
  node: string;
  driver: string;
  definition_index: number;
  hwaddr: string;
  ipaddr: string;
  metadata: string;
  expires_at: string | null;
  created_at: string;
}

export interface TasksTable {
  uid: string;
  application_uid: string;
  owner: string;
  task: string;
  options: string;
  run_when: string;
  status: string;
  result: string;
  created_at: string;
  updated_at: string;
}

export interface NodesTable {
  name: string;
  address: string;
  cpu: number;
  ram: number;
  cpu_overbook: number;
  ram_overbook: number;
  tags: string;
  drivers: string;
  heartbeat_at: string;
  started_at: string;
  maintenance: number;
}

export interface Database {
  shoal_counters: CountersTable;
  users: UsersTable;
  labels: LabelsTable;
  label_names: LabelNamesTable;
  applications: ApplicationsTable;
  application_states: ApplicationStatesTable;
  resources: ResourcesTable;
  tasks: TasksTable;
  nodes: NodesTable;
}
