import type { Kysely, Migration } from 'kysely';
import { kysely } from '../kysely-runtime.js';

const { sql } = kysely;

/** Applications take their FIFO position from a counter of their own (no longer from the state ids). */
export const migration002AppsCounter: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`insert into shoal_counters (name, value) select 'apps', coalesce(max(seq), 0) from applications`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`delete from shoal_counters where name = 'apps'`.execute(db);
  },
};
