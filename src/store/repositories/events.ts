import { stateFromDb } from '../rows.js';
import type { StateRow } from '../types.js';
import type { RepositoryContext } from './context.js';

/** The global event log: every application's state rows in id order (the SSE stream's source). */
export interface EventsRepository {
  maxEventId(): Promise<number>;
  eventsAfter(afterId: number, query: { limit: number; owner?: string; upTo?: number }): Promise<StateRow[]>;
}

export function eventsRepository({ db }: RepositoryContext): EventsRepository {
  return {
    async maxEventId() {
      const r = await db.selectFrom('shoal_counters').select('value').where('name', '=', 'events').executeTakeFirstOrThrow();
      return Number(r.value);
    },

    async eventsAfter(afterId, query) {
      let q = db.selectFrom('application_states').selectAll().where('id', '>', afterId);
      if (query.owner !== undefined) q = q.where('owner', '=', query.owner);
      if (query.upTo !== undefined) q = q.where('id', '<=', query.upTo);
      const rows = await q.orderBy('id').limit(query.limit).execute();
      return rows.map(stateFromDb);
    },
  };
}
