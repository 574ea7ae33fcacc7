import type { Kysely, Migration } from 'kysely';
import { kysely } from '../kysely-runtime.js';

const { sql } = kysely;

/**
 * Users get an immutable id, and their tokens a table of their own.
 *
 * - `users` is rebuilt with `id` as its key (`name` stays unique among existing users): ownership
 *   columns (`applications.owner`, `labels.owner`, `label_names.owner`, `resources.owner`,
 *   `tasks.owner`, `application_states.owner`) hold the id from now on, so a new user with a
 *   deleted user's name inherits nothing. Users created before this migration keep their name as
 *   their id (the owner columns already hold it); new users get `<name>.<16 hex>`.
 * - `user_tokens`: any number of tokens per user, each with a name, a creation time and an optional
 *   expiry; only an argon2id hash of the secret is kept. Each user's token from before becomes a
 *   token named `initial`.
 */
export const migration011UserIdsTokens: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users_011')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('user_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .execute();
    await db.schema.createIndex('user_tokens_user').on('user_tokens').columns(['user_id', 'created_at']).execute();
    await sql`insert into users_011 (id, name, role, created_at) select name, name, role, created_at from users`.execute(db);
    await sql`insert into user_tokens (id, user_id, name, hash, created_at, expires_at)
      select token_id, name, 'initial', token_hash, created_at, null from users`.execute(db);
    await db.schema.dropTable('users').execute();
    await db.schema.alterTable('users_011').renameTo('users').execute();
    // names are unique among existing users (a deleted user's name is free again, for a new id)
    await db.schema.createIndex('users_name').unique().on('users').column('name').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('users_010')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('role', 'text', (c) => c.notNull())
      .addColumn('token_id', 'text', (c) => c.notNull().unique())
      .addColumn('token_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    // each user keeps its oldest token (the schema before held one)
    await sql`insert into users_010 (name, role, token_id, token_hash, created_at)
      select u.name, u.role, t.id, t.hash, u.created_at from users u join user_tokens t on t.user_id = u.id
      where t.id = (select min(o.id) from user_tokens o where o.user_id = u.id
        and o.created_at = (select min(p.created_at) from user_tokens p where p.user_id = u.id))`.execute(db);
    await db.schema.dropTable('user_tokens').execute();
    await db.schema.dropTable('users').execute();
    await db.schema.alterTable('users_010').renameTo('users').execute();
  },
};
