import type { Kysely, Migration } from 'kysely';

/**
 * `nodes.lost_at`: when another node declared this one lost (silent longer than node_lost_after,
 * judged by the database's clock) or an admin forgot it; its work was ended then. Null while it
 * answers; the node clears it once it has reconciled its host after coming back.
 */
export const migration006NodesLost: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('nodes').addColumn('lost_at', 'text').execute();
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('nodes').dropColumn('lost_at').execute();
  },
};
