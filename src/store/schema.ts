import type {
  AccessSessionRow,
  ApplicationRow,
  LabelNameRow,
  LabelRow,
  NodeRow,
  ResourceRow,
  StateRow,
  TaskRow,
  TokenRow,
  UserKeyRow,
  UserRow,
} from './types.js';

/**
 * Table shapes as Kysely sees them, derived from the store's row types (types.ts): each table is
 * its row with the columns stored differently replaced. Dialect-neutral column types: TEXT for
 * strings, times (ISO 8601) and JSON documents; INTEGER 0/1 for booleans; BIGINT ids (parsed to
 * numbers on PostgreSQL).
 */

/** `Row` with the columns named in `Columns` stored as given there (JSON text, a status as text, a boolean as 0/1). */
type Stored<Row, Columns extends object> = Omit<Row, keyof Columns> & Columns;

export interface CountersTable {
  name: string;
  value: number;
}

export type UsersTable = Stored<UserRow, { role: string }>;

export type UserTokensTable = TokenRow;

/** `published_by` is null when the name's owner published the version (LabelRow says the owner then). */
export type LabelsTable = Stored<LabelRow, { definitions: string; metadata: string; published_by: string | null }>;

/** One row per label name ever published: its owner (names stay owned when their versions are deleted). */
export type LabelNamesTable = LabelNameRow;

/** The applications table: metadata as JSON text and status as text. */
export type ApplicationsTable = Stored<ApplicationRow, { metadata: string; status: string }>;

export type ApplicationStatesTable = Stored<StateRow, { status: string }>;

export type ResourcesTable = Stored<ResourceRow, { metadata: string }>;

/** `when` is stored as `run_when` (WHEN is an SQL keyword). */
export type TasksTable = Stored<Omit<TaskRow, 'when'>, { task: string; options: string; status: string; run_when: string }>;

export type NodesTable = Stored<NodeRow, { tags: string; drivers: string; maintenance: number }>;

/** Registered public SSH keys (migration 009). */
export type UserKeysTable = UserKeyRow;

/** Access sessions into environments (migration 009). */
export type AccessSessionsTable = AccessSessionRow;

export interface Database {
  shoal_counters: CountersTable;
  users: UsersTable;
  user_tokens: UserTokensTable;
  labels: LabelsTable;
  label_names: LabelNamesTable;
  applications: ApplicationsTable;
  application_states: ApplicationStatesTable;
  resources: ResourcesTable;
  tasks: TasksTable;
  nodes: NodesTable;
  user_keys: UserKeysTable;
  access_sessions: AccessSessionsTable;
}
