import type { ApplicationStatus } from '../../model/index.js';
import { ConflictError, isUniqueViolation } from '../errors.js';
import { userFromDb } from '../rows.js';
import type { ListPage, TokenAuthRow, TokenRow, UserRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/**
 * Users (keyed by an immutable id; names are unique among existing users) and their tokens (the
 * token's id is public; only an argon2id hash of its secret is kept).
 */
export interface UsersRepository {
  countUsers(): Promise<number>;
  /** a user with its first token, in one transaction; throws ConflictError when the name is taken */
  insertUser(row: UserRow, token: TokenRow): Promise<void>;
  getUser(name: string): Promise<UserRow | undefined>;
  getUserById(id: string): Promise<UserRow | undefined>;
  listUsers(page: ListPage & { after?: string }): Promise<UserRow[]>;
  /** removes the user and every token of theirs at once; false if no such user */
  deleteUser(id: string): Promise<boolean>;

  /** throws ConflictError when the id exists (never in practice: ids are random) */
  insertToken(row: TokenRow): Promise<void>;
  /** a token and its user, by the token's public id (an unknown id, or a deleted user's: undefined) */
  getTokenAuth(tokenId: string): Promise<TokenAuthRow | undefined>;
  /** a user's tokens, oldest first */
  listTokens(userId: string): Promise<TokenRow[]>;
  /** false if the user has no such token */
  deleteToken(userId: string, tokenId: string): Promise<boolean>;

  /** uids of the owner's applications in one of `statuses`, oldest first */
  liveApplicationsOf(owner: string, statuses: readonly ApplicationStatus[], limit: number): Promise<string[]>;
}

export function usersRepository({ db, tx }: RepositoryContext): UsersRepository {
  return {
    async countUsers() {
      const r = await db
        .selectFrom('users')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      return Number(r.n);
    },

    async insertUser(row, token) {
      try {
        await tx(async (trx) => {
          await trx.insertInto('users').values(row).execute();
          await trx.insertInto('user_tokens').values(token).execute();
          return { finish: () => undefined };
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`user "${row.name}" already exists`, { cause: err });
        throw err;
      }
    },

    async getUser(name) {
      const r = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? userFromDb(r) : undefined;
    },

    async getUserById(id) {
      const r = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      return r ? userFromDb(r) : undefined;
    },

    async listUsers(page) {
      let q = db.selectFrom('users').selectAll().orderBy('name').limit(page.limit);
      if (page.after !== undefined) q = q.where('name', '>', page.after);
      return (await q.execute()).map(userFromDb);
    },

    async deleteUser(id) {
      return tx(async (trx) => {
        const user = await trx.selectFrom('users').select('name').where('id', '=', id).executeTakeFirst();
        // a deleted user's SSH keys stop working with it (and may be registered again by someone else)
        if (user) await trx.deleteFrom('user_keys').where('user_name', '=', user.name).execute();
        await trx.deleteFrom('user_tokens').where('user_id', '=', id).execute();
        const r = await trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
        const deleted = Number(r.numDeletedRows) > 0;
        return { finish: () => deleted };
      });
    },

    async insertToken(row) {
      try {
        await db.insertInto('user_tokens').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`token id ${row.id} already exists`, { cause: err });
        throw err;
      }
    },

    async getTokenAuth(tokenId) {
      const r = await db
        .selectFrom('user_tokens as t')
        .innerJoin('users as u', 'u.id', 't.user_id')
        .select([
          't.id as t_id',
          't.user_id as t_user_id',
          't.name as t_name',
          't.hash as t_hash',
          't.created_at as t_created_at',
          't.expires_at as t_expires_at',
          'u.id as u_id',
          'u.name as u_name',
          'u.role as u_role',
          'u.created_at as u_created_at',
        ])
        .where('t.id', '=', tokenId)
        .executeTakeFirst();
      if (!r) return undefined;
      return {
        token: {
          id: r.t_id,
          user_id: r.t_user_id,
          name: r.t_name,
          hash: r.t_hash,
          created_at: r.t_created_at,
          expires_at: r.t_expires_at,
        },
        user: userFromDb({ id: r.u_id, name: r.u_name, role: r.u_role, created_at: r.u_created_at }),
      };
    },

    async listTokens(userId) {
      return db.selectFrom('user_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    },

    async deleteToken(userId, tokenId) {
      const r = await db.deleteFrom('user_tokens').where('user_id', '=', userId).where('id', '=', tokenId).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    async liveApplicationsOf(owner, statuses, limit) {
      const rows = await db
        .selectFrom('applications')
        .select('uid')
        .where('owner', '=', owner)
        .where('status', 'in', [...statuses])
        .orderBy('seq')
        .limit(limit)
        .execute();
      return rows.map((r) => r.uid);
    },
  };
}
