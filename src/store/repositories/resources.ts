import { resourceFromDb } from '../rows.js';
import type { ListPage, ResourceRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/** Resources: what a driver allocated for an application (written by its transitions, read here). */
export interface ResourcesRepository {
  getResource(applicationUid: string): Promise<ResourceRow | undefined>;
  listResources(query: ListPage & { owner?: string; node?: string; after?: string }): Promise<ResourceRow[]>;
  /** ALLOCATED resources of `node` whose expires_at ≤ now */
  expiredResources(node: string, now: string, limit: number): Promise<ResourceRow[]>;
  /** every hwaddr the store knows, per driver instance, on any node */
  knownHwaddrs(): Promise<Set<string>>;
}

export function resourcesRepository({ db }: RepositoryContext): ResourcesRepository {
  return {
    async getResource(applicationUid) {
      const r = await db.selectFrom('resources').selectAll().where('application_uid', '=', applicationUid).executeTakeFirst();
      return r ? resourceFromDb(r) : undefined;
    },

    async listResources(query) {
      let q = db.selectFrom('resources').selectAll();
      if (query.owner !== undefined) q = q.where('owner', '=', query.owner);
      if (query.node !== undefined) q = q.where('node', '=', query.node);
      if (query.after !== undefined) q = q.where('application_uid', '>', query.after);
      const rows = await q.orderBy('application_uid').limit(query.limit).execute();
      return rows.map(resourceFromDb);
    },

    async expiredResources(node, now, limit) {
      const rows = await db
        .selectFrom('resources as r')
        .innerJoin('applications as a', 'a.uid', 'r.application_uid')
        .selectAll('r')
        .where('r.node', '=', node)
        .where('r.expires_at', 'is not', null)
        .where('r.expires_at', '<=', now)
        .where('a.status', '=', 'ALLOCATED')
        .orderBy('r.expires_at')
        .limit(limit)
        .execute();
      return rows.map(resourceFromDb);
    },

    async knownHwaddrs() {
      const rows = await db.selectFrom('resources').select('hwaddr').execute();
      return new Set(rows.map((r) => r.hwaddr));
    },
  };
}
