import type { Kysely, Migration } from 'kysely';

/**
 * Access into environments: the public SSH keys users register (`user_keys`, one key belongs to
 * one user, so the SSH gate knows who a key is) and every access session (`access_sessions`: who,
 * from where, which kind, start, end, exit status, bytes), shown in the application's history.
 */
export const migration009Access: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('user_keys')
      .addColumn('fingerprint', 'text', (c) => c.primaryKey())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('key_type', 'text', (c) => c.notNull())
      .addColumn('public_key', 'text', (c) => c.notNull())
      .addColumn('comment', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('user_keys_user').on('user_keys').columns(['user_name', 'created_at']).execute();

    await db.schema
      .createTable('access_sessions')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('application_uid', 'text', (c) => c.notNull())
      .addColumn('user_name', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('via', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('node', 'text', (c) => c.notNull())
      .addColumn('started_at', 'text', (c) => c.notNull())
      .addColumn('ended_at', 'text')
      .addColumn('exit_status', 'integer')
      .addColumn('bytes_in', 'bigint', (c) => c.notNull())
      .addColumn('bytes_out', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('access_sessions_app').on('access_sessions').columns(['application_uid', 'started_at']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropTable('access_sessions').ifExists().execute();
    await db.schema.dropTable('user_keys').ifExists().execute();
  },
};
