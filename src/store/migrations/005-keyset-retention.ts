import type { Kysely, Migration } from 'kysely';

/**
 * Indexes for keyset pages and retention:
 * - `tasks_app_created_uid` (application_uid, created_at, uid): an application's tasks in list order
 *   with the tie-breaker, so a page seeks instead of sorting (replaces `tasks_app`, its prefix);
 * - `applications_status_at` (status, status_at): retention finds finished applications older than
 *   the cutoff without reading the others.
 */
export const migration005KeysetRetention: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('tasks_app_created_uid').on('tasks').columns(['application_uid', 'created_at', 'uid']).execute();
    await db.schema.dropIndex('tasks_app').ifExists().execute();
    await db.schema.createIndex('applications_status_at').on('applications').columns(['status', 'status_at']).execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('applications_status_at').ifExists().execute();
    await db.schema.createIndex('tasks_app').on('tasks').columns(['application_uid', 'created_at']).execute();
    await db.schema.dropIndex('tasks_app_created_uid').ifExists().execute();
  },
};
