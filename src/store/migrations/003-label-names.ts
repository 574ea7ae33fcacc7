import type { Kysely, Migration } from 'kysely';
import { kysely } from '../kysely-runtime.js';

const { sql } = kysely;

/**
 * Label names are owned: `label_names` holds each name's owner (the publisher of its first
 * version, or whom an admin gave it to); a name stays owned after its versions are deleted.
 * `labels.published_by` records who published a version when that is not its owner (an admin).
 */
export const migration003LabelNames: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable('label_names')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('owner', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('labels').addColumn('published_by', 'text').execute();
    // existing names belong to the publisher of their first version
    await sql`insert into label_names (name, owner, created_at)
      select l.name, l.owner, l.created_at from labels l
      where l.version = (select min(m.version) from labels m where m.name = l.name)`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('labels').dropColumn('published_by').execute();
    await db.schema.dropTable('label_names').ifExists().execute();
  },
};
