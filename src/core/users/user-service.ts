import type { Logger } from 'pino';
import type { PageOf, TokenCreate, TokenCreated, TokenInfo, User, UserCreate, UserCreated } from '../../model/index.js';
import { ConflictError } from '../../store/errors.js';
import type { Store, TokenRow, UserRow } from '../../store/store.js';
import type { Caller, PageRequest } from '../core-service.js';
import { parseDuration } from '../durations.js';
import { CoreError } from '../errors.js';
import { toUser } from '../mappers.js';
import { decodeCursor, encodeCursor, isString, pageLimit } from '../pagination.js';
import { TokenCache } from './token-cache.js';
import { newUserId } from './user-ids.js';
import { dummyHash, hashSecret, newToken, splitToken, verifySecret } from './tokens.js';

const USER_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const TOKEN_ID = /^[0-9a-f]{16}$/;
/** a user holds at most this many tokens (each one is a row every listing shows) */
export const MAX_TOKENS_PER_USER = 100;
/** the applications a forced user deletion deallocates per round (it repeats until none is left) */
const DEALLOCATE_PAGE = 500;

const now = (): string => new Date().toISOString();

export function requireAdmin(caller: Caller, what: string): void {
  if (caller.role !== 'admin') throw new CoreError('FORBIDDEN', `only admins may ${what}`);
}

function callerOfRow(u: UserRow): Caller {
  return { id: u.id, name: u.name, role: u.role };
}

function tokenInfo(t: TokenRow, at: string): TokenInfo {
  return {
    id: t.id,
    name: t.name,
    created_at: t.created_at,
    expires_at: t.expires_at,
    expired: t.expires_at !== null && t.expires_at <= at,
  };
}

export interface DeleteUserOptions {
  /** deallocate the user's live applications instead of refusing */
  force?: boolean;
}

/** What deleting a user needs from the rest of the core. */
export interface UserWork {
  /** ends one application as `caller` (NEW/ELECTED → DEALLOCATED, ALLOCATED → DEALLOCATE) */
  deallocate(caller: Caller, uid: string): Promise<unknown>;
}

/**
 * Users and their tokens: argon2id hashes in the store. Every authenticated request reads its
 * token's row (one primary-key lookup joined with its user), so a revoked token, a deleted user or
 * an expired token is refused at once on every node sharing the store; a token verified recently
 * skips only the argon2 check, and only while its row still holds the hash it was verified against.
 */
export class UserService {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #tokens: TokenCache;
  readonly #verifying = new Map<string, Promise<string | null>>();

  constructor(store: Store, log: Logger, tokenCacheMs: number) {
    this.#store = store;
    this.#log = log;
    this.#tokens = new TokenCache(tokenCacheMs);
  }

  /** Creates user `admin` if there is no user at all; returns its token (only then), else null. */
  async bootstrapAdmin(): Promise<string | null> {
    if ((await this.#store.countUsers()) > 0) return null;
    const created_at = now();
    const user: UserRow = { id: newUserId('admin'), name: 'admin', role: 'admin', created_at };
    const t = newToken();
    try {
      await this.#store.insertUser(user, {
        id: t.id,
        user_id: user.id,
        name: 'initial',
        hash: await hashSecret(t.secret),
        created_at,
        expires_at: null,
      });
    } catch (err) {
      if (err instanceof ConflictError) return null; // another node made it first
      throw err;
    }
    this.#log.info({ user: 'admin' }, 'created the first user');
    return t.token;
  }

  /**
   * The caller when `token` was verified within the cache time and its row still holds that hash
   * (no argon2 runs); undefined when an argon2 check would be needed; null when the token is refused.
   */
  async authenticateCached(token: string, name?: string): Promise<Caller | null | undefined> {
    const hash = this.#tokens.verifiedHash(token);
    const parts = splitToken(token);
    if (hash === undefined || !parts) return undefined;
    const row = await this.#store.getTokenAuth(parts.id);
    if (!row || row.token.hash !== hash) return undefined;
    return this.#accept(row.token, row.user, name);
  }

  async authenticate(token: string, name?: string): Promise<Caller | null> {
    const parts = splitToken(token);
    if (!parts) return null;
    const row = await this.#store.getTokenAuth(parts.id);
    if (row && this.#tokens.verifiedHash(token) === row.token.hash) return this.#accept(row.token, row.user, name);
    let pending = this.#verifying.get(token);
    if (!pending) {
      pending = (async () => {
        // an unknown id costs the same argon2 check as a known one: timing does not tell which ids exist
        const hash = row?.token.hash ?? (await dummyHash());
        return (await verifySecret(hash, parts.secret)) && row ? hash : null;
      })().finally(() => this.#verifying.delete(token));
      this.#verifying.set(token, pending);
    }
    const verified = await pending;
    if (!row || verified === null || verified !== row.token.hash) return null;
    this.#tokens.set(token, verified);
    return this.#accept(row.token, row.user, name);
  }

  #accept(token: TokenRow, user: UserRow, name: string | undefined): Caller | null {
    if (token.expires_at !== null && token.expires_at <= now()) return null;
    if (name !== undefined && name !== user.name) return null;
    return callerOfRow(user);
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
    const user: UserRow = { id: newUserId(body.name), name: body.name, role, created_at };
    try {
      await this.#store.insertUser(user, {
        id: t.id,
        user_id: user.id,
        name: 'initial',
        hash: await hashSecret(t.secret),
        created_at,
        expires_at: null,
      });
    } catch (err) {
      if (err instanceof ConflictError) throw new CoreError('CONFLICT', `user "${body.name}" already exists`);
      throw err;
    }
    this.#log.info({ user: body.name, id: user.id, role, by: caller.name }, 'user created');
    return { name: body.name, id: user.id, role, token: t.token, created_at };
  }

  async listUsers(caller: Caller, page: PageRequest): Promise<PageOf<User>> {
    requireAdmin(caller, 'list users');
    const limit = pageLimit(page.limit);
    const after = decodeCursor(page.cursor, isString);
    const rows = await this.#store.listUsers({ limit, ...(after === undefined ? {} : { after }) });
    return { items: rows.map(toUser), ...(rows.length === limit ? { next_cursor: encodeCursor(rows.at(-1)!.name) } : {}) };
  }

  async getUser(caller: Caller, name: string): Promise<User> {
    return toUser(await this.#userFor(caller, name));
  }

  /** The user `name` when the caller may manage them (admins: anyone; users: themselves), else NOT_FOUND. */
  async #userFor(caller: Caller, name: string): Promise<UserRow> {
    if (caller.role !== 'admin' && caller.name !== name) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    const u = await this.#store.getUser(name);
    if (!u) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    return u;
  }

  /**
   * Deletes a user: their tokens stop working at once (on every node), their live applications are
   * deallocated (`force`) or the deletion is refused while any is live. Labels and label names stay,
   * owned by the deleted user's id (an admin gives names away); a new user of the same name gets a
   * new id and inherits none of it.
   */
  async deleteUser(caller: Caller, name: string, options: DeleteUserOptions, work: UserWork): Promise<void> {
    requireAdmin(caller, 'delete users');
    if (name === caller.name) throw new CoreError('CONFLICT', 'you cannot delete yourself; ask another admin');
    const user = await this.#store.getUser(name);
    if (!user) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    if (options.force) {
      await this.#endWork(caller, user, work);
    } else {
      const live = await this.#store.liveApplicationsOf(user.id, ['NEW', 'ELECTED', 'ALLOCATED', 'DEALLOCATE'], 101);
      if (live.length > 0) {
        const n = live.length > 100 ? 'more than 100' : String(live.length);
        throw new CoreError(
          'CONFLICT',
          `user "${name}" has ${n} live application${live.length === 1 ? '' : 's'} (e.g. ${live[0]}): ` +
            'deallocate them and wait until they end, or delete with force (shoal user delete --force, ?force=true) to deallocate them',
          { live: live.length },
        );
      }
    }
    if (!(await this.#store.deleteUser(user.id))) throw new CoreError('NOT_FOUND', `user "${name}" not found`);
    // an application created while the user was being deleted (a request already past authentication)
    // is ended too: nothing of a deleted user keeps holding capacity
    const raced = await this.#endWork(caller, user, work);
    if (raced > 0)
      this.#log.warn({ user: name, id: user.id, applications: raced }, 'deallocated applications created while the user was deleted');
    this.#log.info({ user: name, id: user.id, by: caller.name, force: options.force === true }, 'user deleted');
  }

  /** Deallocates every NEW, ELECTED or ALLOCATED application of `user`; returns how many. */
  async #endWork(caller: Caller, user: UserRow, work: UserWork): Promise<number> {
    const ended = new Set<string>();
    for (;;) {
      const uids = await this.#store.liveApplicationsOf(user.id, ['NEW', 'ELECTED', 'ALLOCATED'], DEALLOCATE_PAGE);
      if (uids.length === 0) return ended.size;
      if (uids.every((uid) => ended.has(uid))) {
        throw new CoreError('CONFLICT', `user "${user.name}": application ${uids[0]} is still live after its deallocation; try again`);
      }
      for (const uid of uids) {
        try {
          await work.deallocate(caller, uid);
        } catch (err) {
          // ended by itself or by another node meanwhile: it is no longer live, which is all we want
          if (!(err instanceof CoreError && err.code === 'NOT_FOUND')) throw err;
        }
        ended.add(uid);
      }
    }
  }

  async createToken(caller: Caller, userName: string, body: TokenCreate): Promise<TokenCreated> {
    const user = await this.#userFor(caller, userName);
    const name = body.name ?? 'token';
    if (typeof name !== 'string' || !TOKEN_NAME.test(name)) {
      throw new CoreError('INVALID', 'name: 1–64 letters, digits, "_", ".", ":" or "-", starting with a letter or digit', {
        field: 'name',
      });
    }
    const created_at = now();
    let expires_at: string | null = null;
    if (body.expires_in !== undefined) {
      const ms = parseDuration(body.expires_in, 'expires_in');
      expires_at = new Date(Date.parse(created_at) + ms).toISOString();
    }
    if ((await this.#store.listTokens(user.id)).length >= MAX_TOKENS_PER_USER) {
      throw new CoreError(
        'CONFLICT',
        `user "${user.name}" already has ${MAX_TOKENS_PER_USER} tokens (the most a user may hold): revoke one first`,
      );
    }
    const t = newToken();
    await this.#store.insertToken({ id: t.id, user_id: user.id, name, hash: await hashSecret(t.secret), created_at, expires_at });
    this.#log.info({ user: user.name, token_id: t.id, token_name: name, expires_at, by: caller.name }, 'token created');
    return { id: t.id, name, user: user.name, token: t.token, created_at, expires_at };
  }

  async listTokens(caller: Caller, userName: string): Promise<TokenInfo[]> {
    const user = await this.#userFor(caller, userName);
    const at = now();
    return (await this.#store.listTokens(user.id)).map((t) => tokenInfo(t, at));
  }

  /** Revokes a token: the next request with it is refused, on every node. */
  async revokeToken(caller: Caller, userName: string, tokenId: string): Promise<void> {
    const user = await this.#userFor(caller, userName);
    if (!TOKEN_ID.test(tokenId)) throw new CoreError('NOT_FOUND', `user "${user.name}" has no token ${tokenId}`);
    const tokens = await this.#store.listTokens(user.id);
    if (!tokens.some((t) => t.id === tokenId)) throw new CoreError('NOT_FOUND', `user "${user.name}" has no token ${tokenId}`);
    if (user.id === caller.id && tokens.length === 1) {
      throw new CoreError('CONFLICT', 'this is your last token: revoking it would lock you out; create another token first');
    }
    if (!(await this.#store.deleteToken(user.id, tokenId))) throw new CoreError('NOT_FOUND', `user "${user.name}" has no token ${tokenId}`);
    this.#log.info({ user: user.name, token_id: tokenId, by: caller.name }, 'token revoked');
  }
}
