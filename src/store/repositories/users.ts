import { ConflictError, isUniqueViolation } from '../errors.js';
import { userFromDb } from '../rows.js';
import type { ListPage, UserRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/** Users and their tokens (the token's id is public; only an argon2id hash of its secret is kept). */
export interface UsersRepository {
  countUsers(): Promise<number>;
  /** throws ConflictError USER_EXISTS */
  insertUser(row: UserRow): Promise<void>;
  getUser(name: string): Promise<UserRow | undefined>;
  getUserByTokenId(tokenId: string): Promise<UserRow | undefined>;
  listUsers(page: ListPage & { after?: string }): Promise<UserRow[]>;
  deleteUser(name: string): Promise<boolean>;
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

    async insertUser(row) {
      try {
        await db.insertInto('users').values(row).execute();
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`user "${row.name}" already exists`, { cause: err });
        throw err;
      }
    },

    async getUser(name) {
      const r = await db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? userFromDb(r) : undefined;
    },

    async getUserByTokenId(tokenId) {
      const r = await db.selectFrom('users').selectAll().where('token_id', '=', tokenId).executeTakeFirst();
      return r ? userFromDb(r) : undefined;
    },

    async listUsers(page) {
      let q = db.selectFrom('users').selectAll().orderBy('name').limit(page.limit);
      if (page.after !== undefined) q = q.where('name', '>', page.after);
      return (await q.execute()).map(userFromDb);
    },

    async deleteUser(name) {
      return tx(async (trx) => {
        const r = await trx.deleteFrom('users').where('name', '=', name).executeTakeFirst();
        // a deleted user's SSH keys stop working with it (and may be registered again by someone else)
        await trx.deleteFrom('user_keys').where('user_name', '=', name).execute();
        const deleted = Number(r.numDeletedRows) > 0;
        return { finish: () => deleted };
      });
    },
  };
}
