import type {
  AccessSession,
  Application,
  ApplicationCreate,
  ApplicationState,
  Label,
  LabelCreate,
  LabelNameOwner,
  NodeForgotten,
  NodeInfo,
  PageOf,
  Resource,
  Role,
  StateEvent,
  StoredItem,
  Task,
  TaskCreate,
  TokenCreate,
  TokenCreated,
  TokenInfo,
  User,
  UserCreate,
  UserCreated,
  UserKey,
  UserKeyCreate,
} from '../model/index.js';
import type { EventFlow } from './events/event-feed.js';
import type { StoredKind } from './nodes/stored-items.js';

/** Whether a node takes new work; `reason` says why not (maintenance, shutting down, data dir full). */
export interface WorkState {
  takes_work: boolean;
  reason?: string;
}

import type { AccessTarget } from './access/access-service.js';

/** Who is calling, after authentication. */
export interface Caller {
  /** the user's immutable id: what owner columns hold (never the name) */
  id: string;
  name: string;
  role: Role;
}

export interface PageRequest {
  limit?: number;
  cursor?: string;
}

export interface LabelQuery extends PageRequest {
  name?: string;
  /** a version number or "latest" */
  version?: number | 'latest';
}

export interface ApplicationQuery extends PageRequest {
  /** only applications in this status */
  status?: string;
}

/** How a Meta API request identifies itself. */
export type MetaIdentity = { kind: 'address'; address: string } | { kind: 'hwaddr'; hwaddr: string };

/**
 * What the API layer calls. Every method checks the caller's rights: users see and touch only
 * their own applications/resources (others' look like NOT_FOUND); admins see everything.
 * Methods throw CoreError.
 */
export interface CoreService {
  /** Basic auth gives name + token; Bearer gives the token alone. null = bad credentials. */
  authenticate(token: string, name?: string): Promise<Caller | null>;
  /**
   * A token verified recently (a SHA-256 and the token's row, no argon2): the caller; null when its
   * row refuses it (revoked, expired, another user's name); undefined when it needs the argon2 check.
   */
  authenticateCached?(token: string, name?: string): Promise<Caller | null | undefined>;

  createUser(caller: Caller, body: UserCreate): Promise<UserCreated>;
  listUsers(caller: Caller, page: PageRequest): Promise<PageOf<User>>;
  getUser(caller: Caller, name: string): Promise<User>;
  /** refused (CONFLICT) while the user has live applications, unless `force` deallocates them */
  deleteUser(caller: Caller, name: string, options?: { force?: boolean }): Promise<void>;
  /** a new token for `user` (admins: anyone; users: themselves); its secret is shown only now */
  createToken(caller: Caller, user: string, body: TokenCreate): Promise<TokenCreated>;
  listTokens(caller: Caller, user: string): Promise<TokenInfo[]>;
  /** the token is refused from the next request on, on every node */
  revokeToken(caller: Caller, user: string, tokenId: string): Promise<void>;
  /** register a public SSH key for user `name` (admin, or the user); a key belongs to one user */
  addUserKey(caller: Caller, name: string, body: UserKeyCreate): Promise<UserKey>;
  listUserKeys(caller: Caller, name: string): Promise<UserKey[]>;
  deleteUserKey(caller: Caller, name: string, fingerprint: string): Promise<void>;

  /** Validates every definition with its driver before storing; same name = next version. */
  createLabel(caller: Caller, body: LabelCreate): Promise<Label>;
  listLabels(caller: Caller, query: LabelQuery): Promise<PageOf<Label>>;
  getLabel(caller: Caller, uid: string): Promise<Label>;
  deleteLabel(caller: Caller, uid: string): Promise<void>;
  /** who owns a label name (NOT_FOUND when it was never published) */
  getLabelOwner(caller: Caller, name: string): Promise<LabelNameOwner>;
  /** admin only: give a label name to another user */
  setLabelOwner(caller: Caller, name: string, owner: string): Promise<LabelNameOwner>;

  createApplication(caller: Caller, body: ApplicationCreate): Promise<Application>;
  listApplications(caller: Caller, query: ApplicationQuery): Promise<PageOf<Application>>;
  getApplication(caller: Caller, uid: string): Promise<Application>;
  getState(caller: Caller, uid: string): Promise<ApplicationState>;
  listStates(caller: Caller, uid: string, page?: PageRequest): Promise<PageOf<ApplicationState>>;
  getResource(caller: Caller, uid: string): Promise<Resource>;
  /** NEW/ELECTED → DEALLOCATED (undoing an in-flight allocation); ALLOCATED → DEALLOCATE. */
  deallocate(caller: Caller, uid: string): Promise<{ status: 'DEALLOCATE' | 'DEALLOCATED' }>;
  listTasks(caller: Caller, uid: string, page?: PageRequest): Promise<PageOf<Task>>;
  /**
   * Opens the environment of an ALLOCATED application of this node for its owner or an admin;
   * anything else is the same NOT_FOUND. Release the target when its connection ends.
   */
  openAccess(caller: Caller, uid: string): Promise<AccessTarget>;
  releaseAccess(target: AccessTarget): void;
  /** who registered the SSH key with this fingerprint (null: nobody) */
  callerForKey(fingerprint: string): Promise<Caller | null>;
  /** the access sessions (SSH gate, WebSockets) into the application's environment, oldest first */
  listSessions(caller: Caller, uid: string): Promise<AccessSession[]>;
  createTask(caller: Caller, uid: string, body: TaskCreate): Promise<Task>;
  /** Console output of the resource if its driver keeps one. */
  getConsole(caller: Caller, uid: string): Promise<string>;

  listResources(caller: Caller, page: PageRequest): Promise<PageOf<Resource>>;

  listNodes(caller: Caller): Promise<NodeInfo[]>;
  thisNode(caller: Caller): Promise<NodeInfo>;
  /**
   * A consistent copy of the live SQLite database in a temporary file (admin); the caller streams
   * it and calls `remove()`. CONFLICT on PostgreSQL (back it up with pg_dump).
   */
  backupDatabase(caller: Caller): Promise<{ path: string; bytes: number; remove(): Promise<void> }>;
  setMaintenance(caller: Caller, on: boolean): Promise<NodeInfo>;
  /** whether this node takes new work now, and why not (no auth: /health shows it) */
  workState(): WorkState;
  /** admin: end the work of a node known to be gone and delete its row (refused while it answers) */
  forgetNode(caller: Caller, name: string): Promise<NodeForgotten>;
  /** admin: what this node's drivers keep between resources (cached images, or kept disks and snapshots); `node` is this node */
  listStored(caller: Caller, node: string, kind: StoredKind): Promise<StoredItem[]>;
  /** admin: remove one (409 while a resource uses it); `driver` picks the instance when ids repeat */
  removeStored(caller: Caller, node: string, kind: StoredKind, id: string, driver?: string): Promise<void>;

  /**
   * Replays the state events after `afterId` that the caller may see, then streams new ones live,
   * in id order, until the returned function is called. With `flow`, events are sent only while
   * the subscriber is not full (a replay reads the next page when there is room).
   */
  subscribe(caller: Caller, afterId: string | undefined, onEvent: (event: StateEvent) => void, flow?: EventFlow): () => void;

  /** Merged metadata of the ALLOCATED resource this request comes from; null = nobody (→ 404). */
  metadataFor(identity: MetaIdentity): Promise<Record<string, unknown> | null>;
}
