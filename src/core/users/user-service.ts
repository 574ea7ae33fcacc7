import type { Logger } from 'pino';
import type { PageOf, User, UserCreate, UserCreated } from '../../model/index.js';
import { ConflictError } from '../../store/errors.js';
import type { Store } from '../../store/store.js';
import type { Caller, PageRequest } from '../core-service.js';
import { CoreError } from '../errors.js';
import { toUser } from '../mappers.js';
import { decodeCursor, encodeCursor, isString, pageLimit } from '../pagination.js';
import { TokenCache } from './token-cache.js';
import { dummyHash, hashSecret, newToken, splitToken, tokenKey, verifySecret } from './tokens.js';

const USER_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const now = (): string => new Date().toISOString();

export function requireAdmin(caller: Caller, what: string): void {
  if (caller.role !== 'admin') throw new CoreError('FORBIDDEN', `only admins may ${what}`);
}

/** Users and their tokens: argon2id hashes in the store, verified tokens cached briefly by SHA-256. */
export class UserService {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #tokens: TokenCache;
  readonly #verifying = new Map<string, Promise<Caller | null>>();

  constructor(store: Store, log: Logger, tokenCacheMs: number) {
    this.#store = store;
    this.#log = log;
    this.#tokens = new TokenCache(tokenCacheMs);
  }

  /** Creates user `admin` if there is no user at all; returns its token (only then), else null. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.#store.countUsers()) > 0) return null;
    const t = newToken();
    try {
      await this.#store.insertUser({
        name: 'admin',
        role: 'admin',
        token_id: t.id,
        token_hash: await hashSecret(t.secret),
        created_at: now(),
      });
    } catch (err) {
      if (err instanceof ConflictError) return null; // another node made it first
      throw err;
    }
    this.#log.info({ user: 'admin' }, 'created the first user');
    return t.token;
  }

  /** A token verified within the cache time (deleted users are dropped at once): no argon2 runs. */
  authenticateCached(token: string, name?: string): Caller | undefined {
    const cached = this.#tokens.get(token);
    return cached && (name === undefined || cached.name === name) ? cached : undefined;
  }

  async authenticate(token: string, name?: string): Promise<Caller | null> {
    const cached = this.#tokens.get(token);
    if (cached) return name === undefined || cached.name === name ? cached : null;
    const parts = splitToken(token);
    if (!parts) return null;
    const key = tokenKey(token);
    let pending = this.#verifying.get(key);
    if (!pending) {
      pending = (async () => {
        const user = await this.#store.getUserByTokenId(parts.id);
        // an unknown id costs the same argon2 check as a known one: timing does not tell which ids exist
        const hash = user?.token_hash ?? (await dummyHash());
        const ok = await verifySecret(hash, parts.secret);
        if (!user || !ok) return null;
        const caller: Caller = { name: user.name, role: user.role };
        this.#tokens.set(token, caller);
        return caller;
      })().finally(() => this.#verifying.delete(key));
      this.#verifying.set(key, pending);
    }
    const caller = await pending;
    if (!caller) return null;
    return name === undefined || caller.name === name ? caller : null;
  }

  async createUser(caller: Caller, body: UserCreate): Promise<UserCreated> {
    requireAdmin(caller, 'create users');
    if (typeof body.name !== 'string' || !USER_NAME.test(body.name)) {
      throw new CoreError('INVALID', 'name: must be 1–63 lowercase letters, digits, "_" or "-", starting with a letter', { field: 'name' });
    }
    const role = body.role ?? 'user';
    if (role !== 'admin' && role !== 'user') throw new CoreError('INVALID', 'role: must be "admin" or "user"', { field: 'role' });
    const t = newToken();
    const created_at = now();
    try {
      await this.#store.insertUser({ name: body.name, role, token_id: t.id, token_hash: await hashSecret(t.secret), created_at });
    } catch (err) {
      if (err instanceof ConflictError) throw new CoreError('CONFLICT', `user "${body.name}" already exists`);
      throw err;
    }
    this.#log.info({ user: body.name, role, by: caller.name }, 'user created');
    return { name: body.name, role, token: t.token, created_at };
  }

  async listUsers(caller: Caller, page: PageRequest): Promise<PageOf<User>> {
    requireAdmin(caller, 'list users');
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isString);
    const rows = await this.#store.listUsers({ limit, ...(after === undefined ? {} : { after }) });
    return { items: rows.map(toUser), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.name) } : {}) };
  }

  async getUser(caller: Caller, name: string): Promise<User> {
    if (caller.role !== 'admin' && caller.name !== name) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    const u = await this.#store.getUser(name);
    if (!u) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    return toUser(u);
  }

  async deleteUser(caller: Caller, name: string): Promise<void> {
    requireAdmin(caller, 'delete users');
    if (name === caller.name) throw new CoreError('CONFLICT', 'you cannot delete yourself; ask another admin');
    if (!(await this.#store.deleteUser(name))) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    this.#tokens.dropUser(name);
    this.#log.info({ user: name, by: caller.name }, 'user deleted');
  }
}
