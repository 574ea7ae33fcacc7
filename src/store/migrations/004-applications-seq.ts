import type { Kysely, Migration } from 'kysely';

/**
 * `GET /applications` without a filter (an admin's list) orders by `seq`: without an index on it
 * every page sorted the whole table (103 ms for the first page at 100k applications, a full walk
 * quadratic).
 */
export const migration004ApplicationsSeq: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.createIndex('applications_seq').on('applications').column('seq').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.dropIndex('applications_seq').ifExists().execute();
  },
};
