import type { ApplicationStatus } from '../model/index.js';

/**
 * The shapes the store reads and writes (its row types), its wake-up signals and capabilities.
 * Times are ISO 8601 UTC strings (`Date#toISOString()`), JSON documents are parsed objects, ids are
 * numbers. Table shapes (schema.ts) are derived from these.
 */

export type Role = 'admin' | 'user';

export interface UserRow {
  /** immutable and never reused: what every owner column holds (see migration 011) */
  id: string;
  name: string;
  role: Role;
  created_at: string;
}

/** One API token of a user: `<id>.<secret>`; only an argon2id hash of the secret is kept. */
export interface TokenRow {
  /** the public half of the token */
  id: string;
  user_id: string;
  /** what the token is for (e.g. "ci-runner"), chosen at creation */
  name: string;
  /** argon2id hash of the secret half */
  hash: string;
  created_at: string;
  /** null: never expires */
  expires_at: string | null;
}

/** A token with the user it authenticates (the one lookup an authenticated request costs). */
export interface TokenAuthRow {
  token: TokenRow;
  user: UserRow;
}

export interface LabelDefinitionRecord {
  driver: string;
  options: Record<string, unknown>;
  requirements: Record<string, unknown>;
}

export interface LabelRow {
  uid: string;
  name: string;
  version: number;
  definitions: LabelDefinitionRecord[];
  metadata: Record<string, unknown>;
  lifetime: string | null;
  wait_timeout: string | null;
  /** the name's owner when this version was published (reused disks are kept per owner + name) */
  owner: string;
  created_at: string;
  deleted_at: string | null;
  /** who published this version: the owner, or an admin publishing for the owner */
  published_by: string;
}

/** A new label version; `owner` is the user publishing it (see Store.insertLabel). */
export type NewLabel = Omit<LabelRow, 'version' | 'deleted_at' | 'published_by'>;

/** Who owns a label name (the publisher of its first version, or whom an admin gave it to). */
export interface LabelNameRow {
  name: string;
  owner: string;
  created_at: string;
}

export interface ApplicationRow {
  uid: string;
  /** FIFO position: the id of the application's first state row */
  seq: number;
  label_uid: string;
  owner: string;
  /** the application's own metadata (merged over the label's at allocation) */
  metadata: Record<string, unknown>;
  lifetime: string | null;
  wait_timeout: string | null;
  /** NEW longer than this → ERROR (null = wait indefinitely) */
  wait_deadline: string | null;
  created_at: string;
  status: ApplicationStatus;
  status_description: string;
  status_at: string;
  /** node that elected it (null while NEW) */
  node: string | null;
  /** driver instance of the definition being used (null while NEW) */
  driver: string | null;
  /** definition to try next (NEW) or being used (ELECTED and later) */
  definition_index: number;
  /** failed allocation attempts so far */
  attempts: number;
  /** capacity held on `node` while ELECTED, ALLOCATED or DEALLOCATE */
  cpu: number;
  ram: number;
}

export type NewApplication = Omit<
  ApplicationRow,
  'seq' | 'status' | 'status_description' | 'status_at' | 'node' | 'driver' | 'definition_index' | 'attempts' | 'cpu' | 'ram'
>;

/** One row of the append-only state history; `id` is global and monotonic (the SSE event id). */
export interface StateRow {
  id: number;
  application_uid: string;
  owner: string;
  status: ApplicationStatus;
  description: string;
  created_at: string;
}

export interface ResourceRow {
  application_uid: string;
  owner: string;
  node: string;
  driver: string;
  definition_index: number;
  hwaddr: string;
  ipaddr: string;
  /** merged label + application metadata */
  metadata: Record<string, unknown>;
  expires_at: string | null;
  created_at: string;
}

export type TaskStatus = 'PENDING' | 'RUNNING' | 'DONE' | 'FAILED';
export type TaskWhen = 'NOW' | 'DEALLOCATE';

export interface TaskRow {
  uid: string;
  application_uid: string;
  owner: string;
  task: 'snapshot';
  options: { full?: boolean };
  when: TaskWhen;
  status: TaskStatus;
  result: string;
  created_at: string;
  updated_at: string;
}

export interface NodeDriverRecord {
  instance: string;
  driver: string;
  enabled: boolean;
  health: 'healthy' | 'unhealthy' | 'undetected';
  description: string;
  attributes: Record<string, string>;
  capacity?: { cpu: number; ram: number };
}

export interface NodeRow {
  name: string;
  address: string;
  cpu: number;
  ram: number;
  cpu_overbook: number;
  ram_overbook: number;
  tags: Record<string, string>;
  drivers: NodeDriverRecord[];
  heartbeat_at: string;
  started_at: string;
  maintenance: boolean;
  /** when it was declared lost or forgotten (its work ended then); null while it answers */
  lost_at: string | null;
}

/** Columns a transition may change besides the status. */
export interface ApplicationPatch {
  node?: string | null;
  driver?: string | null;
  definition_index?: number;
  attempts?: number;
  cpu?: number;
  ram?: number;
}

/**
 * A conditional status change: applied only if the application is in one of `from` (and, with
 * `onlyNode`, elected by that node). Appends a state row when applied.
 */
export interface Transition {
  uid: string;
  from: readonly ApplicationStatus[];
  to: ApplicationStatus;
  description: string;
  at: string;
  onlyNode?: string;
  /** only if status_at is still this: the very state change the caller saw, not a later one to the same status */
  ifStatusAt?: string;
  set?: ApplicationPatch;
  /** insert this resource row in the same transaction */
  insertResource?: ResourceRow;
  /** remove the application's resource row in the same transaction */
  deleteResource?: boolean;
  /** mark the application's PENDING tasks FAILED with this result */
  failPendingTasks?: string;
}

/** Wake-ups between nodes (PostgreSQL LISTEN/NOTIFY) and inside one process. */
export type StoreSignal =
  /** NEW applications appeared, or capacity was freed (on `node` if given) */
  | { kind: 'queue'; node?: string }
  /** `node` has deallocations or tasks to run */
  | { kind: 'work'; node: string }
  /** state rows were appended up to `lastId`; `events` is set for local commits */
  | { kind: 'events'; lastId: number; events?: StateRow[] }
  /** a node joined, left maintenance or changed capacity */
  | { kind: 'nodes' }
  /** signals from other nodes may have been missed (listener reconnected): recheck everything */
  | { kind: 'resync' };

export interface ClaimCandidate {
  uid: string;
  seq: number;
  label_uid: string;
  /** the label's definitions (parsed once per label: labels are immutable) */
  definitions: readonly LabelDefinitionRecord[];
  definition_index: number;
  attempts: number;
  owner: string;
}

/** What a node holds now (ELECTED, ALLOCATED or DEALLOCATE), in total and per driver instance. */
export interface NodeUsage {
  cpu: number;
  ram: number;
  drivers: Map<string, { cpu: number; ram: number }>;
}

export interface ClaimPick {
  uid: string;
  driver: string;
  definition_index: number;
  cpu: number;
  ram: number;
  description: string;
}

export interface ClaimChoice {
  picks: ClaimPick[];
  /** false = stop scanning (the node is full); true = look at the next page of candidates */
  more: boolean;
}

export interface ClaimRequest {
  node: string;
  at: string;
  /** candidates fetched per page (FIFO order) */
  pageSize: number;
  /** stop after looking at this many candidates */
  maxScan: number;
  /**
   * Called inside the claim transaction, once per page, with the node's usage (the same object on
   * every page: update it for what you pick). Must be synchronous.
   */
  choose(candidates: ClaimCandidate[], usage: NodeUsage): ClaimChoice;
}

export interface Claimed {
  app: ApplicationRow;
  event: StateRow;
}

export interface StoreCapabilities {
  /** SELECT … FOR UPDATE [SKIP LOCKED] row locks (PostgreSQL); SQLite serialises writers instead */
  readonly rowLocks: boolean;
  /** wake-ups reach other processes (LISTEN/NOTIFY) */
  readonly crossProcessSignals: boolean;
  /** several nodes may share this database */
  readonly multiNode: boolean;
  /** concurrent transactions are merged into one, so a burst costs a handful of commits */
  readonly groupCommit: boolean;
}

export interface ListPage {
  limit: number;
}

/** Statuses in which an application holds capacity on its node. */
export const HOLDING_STATUSES: readonly ApplicationStatus[] = ['ELECTED', 'ALLOCATED', 'DEALLOCATE'];

/** A public SSH key a user registered (the SSH gate lets its holder in as that user). */
export interface UserKeyRow {
  /** "SHA256:…" of the public key blob (unique: one key belongs to one user) */
  fingerprint: string;
  user_name: string;
  /** "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa" … */
  key_type: string;
  /** the key in OpenSSH one-line form without comment: "<type> <base64>" */
  public_key: string;
  comment: string;
  created_at: string;
}

/** One access session into an environment (SSH gate or API WebSocket), appended at start, finished at end. */
export interface AccessSessionRow {
  id: string;
  application_uid: string;
  /** the user who opened it */
  user_name: string;
  /** the client's address ("ip:port") */
  source: string;
  /** "ssh" (the gate) or "api" (a WebSocket endpoint) */
  via: string;
  /** shell, exec, sftp, port-forward, console, copy-in, copy-out */
  kind: string;
  node: string;
  started_at: string;
  ended_at: string | null;
  /** the command's exit status (shell/exec), null when none was reported */
  exit_status: number | null;
  /** bytes from the client into the environment, and back */
  bytes_in: number;
  bytes_out: number;
}
