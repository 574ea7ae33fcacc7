import type {
  AccessSession,
  Application,
  ApplicationCreate,
  ApplicationState,
  Label,
  LabelCreate,
  LabelNameOwner,
  NodeForgotten,
  StoredItem,
  NodeInfo,
  PageOf,
  PageQuery,
  Resource,
  Task,
  TaskCreate,
  TokenCreate,
  TokenCreated,
  TokenInfo,
  User,
  UserCreate,
  UserCreated,
  UserKey,
} from '../model/index.js';
import { ShoalConnectionError } from './errors.js';
import { EventStream, type EventStreamOptions } from './event-stream.js';
import { HttpTransport, type ClientOptions, type OpenStream } from './http-transport.js';

const API = '/api/v1';

export interface LabelListQuery extends PageQuery {
  name?: string;
  /** a version number or "latest" */
  version?: number | 'latest';
}

export interface ApplicationListQuery extends PageQuery {
  status?: string;
}

export interface DeallocateResult {
  status: 'DEALLOCATE' | 'DEALLOCATED';
}

export interface HealthStatus {
  status: string;
  [key: string]: unknown;
}

interface RequestOptions {
  signal?: AbortSignal;
}

/** A typed client for Shoal's HTTP API (PRODUCT.md §5). Every method throws ShoalApiError or ShoalConnectionError. */
export class ShoalClient {
  readonly transport: HttpTransport;

  constructor(options: ClientOptions) {
    this.transport = new HttpTransport(options);
  }

  /** The node URL the client talks to (without /api/v1). */
  get url(): string {
    return this.transport.baseUrl.toString().replace(/\/$/, '');
  }

  // --- health -----------------------------------------------------------------------------
  health(opts?: RequestOptions): Promise<HealthStatus> {
    return this.transport.request({ method: 'GET', path: '/health', signal: opts?.signal });
  }

  // --- users ------------------------------------------------------------------------------
  listUsers(query: PageQuery = {}, opts?: RequestOptions): Promise<PageOf<User>> {
    return this.#get(`${API}/users`, { ...query }, opts).then((r) => asPage<User>(r));
  }
  createUser(body: UserCreate, opts?: RequestOptions): Promise<UserCreated> {
    return this.#post(`${API}/users`, body, opts);
  }
  me(opts?: RequestOptions): Promise<User> {
    return this.#get(`${API}/users/me`, undefined, opts);
  }
  getUser(name: string, opts?: RequestOptions): Promise<User> {
    return this.#get(`${API}/users/${seg(name)}`, undefined, opts);
  }
  /** `force`: deallocate the user's live applications (else the deletion is refused while any is live). */
  async deleteUser(name: string, opts?: RequestOptions & { force?: boolean }): Promise<void> {
    await this.transport.request<unknown>({
      method: 'DELETE',
      path: `${API}/users/${seg(name)}`,
      query: opts?.force ? { force: true } : undefined,
      signal: opts?.signal,
    });
  }
  /** A new token for `user` (admins: anyone; users: themselves); its secret is shown only now. */
  createToken(user: string, body: TokenCreate = {}, opts?: RequestOptions): Promise<TokenCreated> {
    return this.#post(`${API}/users/${seg(user)}/tokens`, body, opts);
  }
  listTokens(user: string, opts?: RequestOptions): Promise<TokenInfo[]> {
    return this.#get<{ items: TokenInfo[] }>(`${API}/users/${seg(user)}/tokens`, undefined, opts).then((r) => r.items);
  }
  /** Refused from the next request on, on every node. */
  revokeToken(user: string, tokenId: string, opts?: RequestOptions): Promise<void> {
    return this.#delete(`${API}/users/${seg(user)}/tokens/${seg(tokenId)}`, opts);
  }

  /** The public SSH keys of a user ("me": the caller), the first 1000. */
  listUserKeys(name: string, opts?: RequestOptions): Promise<UserKey[]> {
    return this.#get(`${API}/users/${seg(name)}/keys`, { limit: 1000 }, opts).then((r) => asArray<UserKey>(r));
  }
  /** Register a public SSH key ("ssh-ed25519 AAAA… comment") for a user ("me": the caller). */
  addUserKey(name: string, key: string, opts?: RequestOptions): Promise<UserKey> {
    return this.#post(`${API}/users/${seg(name)}/keys`, { key }, opts);
  }
  deleteUserKey(name: string, fingerprint: string, opts?: RequestOptions): Promise<void> {
    return this.#delete(`${API}/users/${seg(name)}/keys/${seg(fingerprint)}`, opts);
  }

  // --- labels -----------------------------------------------------------------------------
  listLabels(query: LabelListQuery = {}, opts?: RequestOptions): Promise<PageOf<Label>> {
    return this.#get(`${API}/labels`, { ...query }, opts).then((r) => asPage<Label>(r));
  }
  createLabel(body: LabelCreate, opts?: RequestOptions): Promise<Label> {
    return this.#post(`${API}/labels`, body, opts);
  }
  getLabel(uid: string, opts?: RequestOptions): Promise<Label> {
    return this.#get(`${API}/labels/${seg(uid)}`, undefined, opts);
  }
  deleteLabel(uid: string, opts?: RequestOptions): Promise<void> {
    return this.#delete(`${API}/labels/${seg(uid)}`, opts);
  }
  /** Who owns a label name (only the owner or an admin publishes its versions). */
  getLabelName(name: string, opts?: RequestOptions): Promise<LabelNameOwner> {
    return this.#get(`${API}/label-names/${seg(name)}`, undefined, opts);
  }
  /** Give a label name to another user (admin). */
  setLabelNameOwner(name: string, owner: string, opts?: RequestOptions): Promise<LabelNameOwner> {
    return this.transport.request<LabelNameOwner>({
      method: 'PUT',
      path: `${API}/label-names/${seg(name)}`,
      body: { owner },
      signal: opts?.signal,
    });
  }

  // --- applications -----------------------------------------------------------------------
  listApplications(query: ApplicationListQuery = {}, opts?: RequestOptions): Promise<PageOf<Application>> {
    return this.#get(`${API}/applications`, { ...query }, opts).then((r) => asPage<Application>(r));
  }
  createApplication(body: ApplicationCreate, opts?: RequestOptions): Promise<Application> {
    return this.#post(`${API}/applications`, body, opts);
  }
  getApplication(uid: string, opts?: RequestOptions): Promise<Application> {
    return this.#get(`${API}/applications/${seg(uid)}`, undefined, opts);
  }
  getState(uid: string, opts?: RequestOptions): Promise<ApplicationState> {
    return this.#get(`${API}/applications/${seg(uid)}/state`, undefined, opts);
  }
  /** The state history, oldest first (the first 1000 entries). */
  listStates(uid: string, opts?: RequestOptions): Promise<ApplicationState[]> {
    return this.#get(`${API}/applications/${seg(uid)}/states`, { limit: 1000 }, opts).then((r) => asArray<ApplicationState>(r));
  }
  getResource(uid: string, opts?: RequestOptions): Promise<Resource> {
    return this.#get(`${API}/applications/${seg(uid)}/resource`, undefined, opts);
  }
  deallocate(uid: string, opts?: RequestOptions): Promise<DeallocateResult> {
    return this.#post(`${API}/applications/${seg(uid)}/deallocate`, undefined, opts);
  }
  /** The tasks of an application (the first 1000). */
  listTasks(uid: string, opts?: RequestOptions): Promise<Task[]> {
    return this.#get(`${API}/applications/${seg(uid)}/tasks`, { limit: 1000 }, opts).then((r) => asArray<Task>(r));
  }
  /** Access sessions into the environment (SSH gate, WebSockets), oldest first (the first 1000). */
  listSessions(uid: string, opts?: RequestOptions): Promise<AccessSession[]> {
    return this.#get(`${API}/applications/${seg(uid)}/sessions`, { limit: 1000 }, opts).then((r) => asArray<AccessSession>(r));
  }
  createTask(uid: string, body: TaskCreate, opts?: RequestOptions): Promise<Task> {
    return this.#post(`${API}/applications/${seg(uid)}/tasks`, body, opts);
  }
  /** Console output of the resource, when its driver keeps one. */
  async getConsole(uid: string, opts?: RequestOptions): Promise<string> {
    const text = await this.transport.request<string>({
      method: 'GET',
      path: `${API}/applications/${seg(uid)}/console`,
      accept: 'text',
      signal: opts?.signal,
    });
    // the API may wrap the text as {"console": "..."} or {"output": "..."}
    if (text.startsWith('{')) {
      try {
        const parsed = JSON.parse(text) as Record<string, unknown>;
        for (const key of ['console', 'output', 'text']) {
          if (typeof parsed[key] === 'string') return parsed[key];
        }
      } catch {
        // plain text that starts with "{"
      }
    }
    return text;
  }

  // --- resources and nodes ----------------------------------------------------------------
  listResources(query: PageQuery = {}, opts?: RequestOptions): Promise<PageOf<Resource>> {
    return this.#get(`${API}/resources`, { ...query }, opts).then((r) => asPage<Resource>(r));
  }
  /** Every node (the first 1000). */
  listNodes(opts?: RequestOptions): Promise<NodeInfo[]> {
    return this.#get(`${API}/nodes`, { limit: 1000 }, opts).then((r) => asArray<NodeInfo>(r));
  }
  thisNode(opts?: RequestOptions): Promise<NodeInfo> {
    return this.#get(`${API}/nodes/this`, undefined, opts);
  }
  setMaintenance(on: boolean, opts?: RequestOptions): Promise<NodeInfo> {
    return this.#post(`${API}/nodes/this/maintenance`, { enabled: on }, opts);
  }
  /** Admin: a consistent copy of the node's SQLite database, as a stream (the caller reads and closes it). */
  backupDatabase(): Promise<OpenStream> {
    return this.transport.openStream(`${API}/nodes/this/backup`, { accept: 'application/vnd.sqlite3' });
  }
  /** Admin: end the work of a node known to be gone and delete its row. */
  forgetNode(name: string, opts?: RequestOptions): Promise<NodeForgotten> {
    return this.#post(`${API}/nodes/${seg(name)}/forget`, undefined, opts);
  }

  /** Admin: a node's cached images ("images") or kept disks and snapshots ("disks"); the node answers for itself. */
  listStored(node: string, kind: 'images' | 'disks', opts?: RequestOptions): Promise<StoredItem[]> {
    return this.#get(`${API}/nodes/${seg(node)}/${kind}`, undefined, opts);
  }
  /** Admin: remove one (409 while a resource uses it); `driver` when more than one instance lists the id. */
  removeStored(node: string, kind: 'images' | 'disks', id: string, driver?: string, opts?: RequestOptions): Promise<void> {
    const q = driver ? `?driver=${encodeURIComponent(driver)}` : '';
    return this.#delete(`${API}/nodes/${seg(node)}/${kind}/${seg(id)}${q}`, opts);
  }

  // --- events -----------------------------------------------------------------------------
  /** Server-Sent Events of state changes the caller may see; reconnects with Last-Event-ID. */
  events(options: EventStreamOptions = {}): EventStream {
    return new EventStream(this.transport, options);
  }

  /** Every item of a paginated list, following next_cursor (at most maxPages pages). */
  async *all<T>(list: (page: PageQuery) => Promise<PageOf<T>>, pageSize = 500, maxPages = 10_000): AsyncGenerator<T> {
    let cursor: string | undefined;
    for (let i = 0; i < maxPages; i++) {
      const page = await list({ limit: pageSize, ...(cursor !== undefined ? { cursor } : {}) });
      yield* page.items;
      if (page.next_cursor === undefined || page.next_cursor === '' || page.items.length === 0) return;
      cursor = page.next_cursor;
    }
  }

  #get<T>(path: string, query: Record<string, string | number | boolean | undefined> | undefined, opts?: RequestOptions): Promise<T> {
    return this.transport.request<T>({ method: 'GET', path, query, signal: opts?.signal });
  }
  #post<T>(path: string, body: unknown, opts?: RequestOptions): Promise<T> {
    return this.transport.request<T>({ method: 'POST', path, body, signal: opts?.signal });
  }
  async #delete(path: string, opts?: RequestOptions): Promise<void> {
    await this.transport.request<unknown>({ method: 'DELETE', path, signal: opts?.signal });
  }
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

/** Lists come as {items, next_cursor?}; a bare array is accepted too. */
function asPage<T>(r: unknown): PageOf<T> {
  if (Array.isArray(r)) return { items: r as T[] };
  if (typeof r === 'object' && r !== null && Array.isArray((r as { items?: unknown }).items)) return r as PageOf<T>;
  throw new ShoalConnectionError('BAD_RESPONSE', 'expected a page {items, next_cursor} in the answer');
}

/** Non-paginated lists may come as a bare array or as {items}. */
function asArray<T>(r: unknown): T[] {
  if (Array.isArray(r)) return r as T[];
  if (typeof r === 'object' && r !== null && Array.isArray((r as { items?: unknown }).items)) return (r as { items: T[] }).items;
  throw new ShoalConnectionError('BAD_RESPONSE', 'expected a list in the answer');
}
