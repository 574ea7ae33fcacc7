import { dbNowExpression } from '../db-clock.js';
import { nodeFromDb, nodeToDb } from '../rows.js';
import type { NodeRow, StoreSignal } from '../types.js';
import type { RepositoryContext } from './context.js';

/** The nodes sharing the database: their capacity, drivers, heartbeats and maintenance mode. */
export interface NodesRepository {
  /** insert or replace the node row (keeps `maintenance` unless given) */
  upsertNode(row: NodeRow, signals?: readonly StoreSignal[]): Promise<void>;
  /**
   * Records a heartbeat at `at`, or at the database's clock when omitted (what nodes do: their
   * own clocks may be skewed). Returns the time written and whether the node was declared lost
   * meanwhile; undefined when its row is gone (forgotten by an admin).
   */
  heartbeat(name: string, at?: string): Promise<{ heartbeat_at: string; lost_at: string | null } | undefined>;
  getNode(name: string): Promise<NodeRow | undefined>;
  listNodes(): Promise<NodeRow[]>;
  setMaintenance(name: string, on: boolean): Promise<boolean>;
}

export function nodesRepository({ db, notify, dialect }: RepositoryContext): NodesRepository {
  return {
    async upsertNode(row, signals = []) {
      const v = nodeToDb(row);
      await db
        .insertInto('nodes')
        .values(v)
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({
            address: v.address,
            cpu: v.cpu,
            ram: v.ram,
            cpu_overbook: v.cpu_overbook,
            ram_overbook: v.ram_overbook,
            tags: v.tags,
            drivers: v.drivers,
            heartbeat_at: v.heartbeat_at,
            started_at: v.started_at,
            lost_at: v.lost_at,
          }),
        )
        .execute();
      await notify(signals);
    },

    async heartbeat(name, at) {
      return db
        .updateTable('nodes')
        .set({ heartbeat_at: at ?? dbNowExpression(dialect) })
        .where('name', '=', name)
        .returning(['heartbeat_at', 'lost_at'])
        .executeTakeFirst();
    },

    async getNode(name) {
      const r = await db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
      return r ? nodeFromDb(r) : undefined;
    },

    async listNodes() {
      return (await db.selectFrom('nodes').selectAll().orderBy('name').execute()).map(nodeFromDb);
    },

    async setMaintenance(name, on) {
      const r = await db
        .updateTable('nodes')
        .set({ maintenance: on ? 1 : 0 })
        .where('name', '=', name)
        .executeTakeFirst();
      const changed = Number(r.numUpdatedRows) > 0;
      if (changed && !on) await notify([{ kind: 'nodes' }]);
      return changed;
    },
  };
}
