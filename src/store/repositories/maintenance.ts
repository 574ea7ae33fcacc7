import type { RepositoryContext } from './context.js';

/** Statuses an application never leaves: what retention may delete. */
const FINISHED = ['DEALLOCATED', 'ERROR'] as const;

/** Deleting what is old enough to forget (retention). */
export interface MaintenanceRepository {
  /**
   * Deletes up to `limit` finished applications (DEALLOCATED or ERROR) whose last change is older
   * than `before`, with their state history, tasks, resource rows and access sessions, in one
   * transaction; returns how many applications went.
   */
  purgeFinished(before: string, limit: number): Promise<number>;
}

export function maintenanceRepository({ db }: RepositoryContext): MaintenanceRepository {
  return {
    async purgeFinished(before, limit) {
      // its own transaction, never grouped with lifecycle commits (a purge batch is the bigger write)
      return db.transaction().execute(async (trx) => {
        // applications_status_at: one index range per status
        const uids = (
          await trx
            .selectFrom('applications')
            .select('uid')
            .where('status', 'in', FINISHED)
            .where('status_at', '<', before)
            .limit(limit)
            .execute()
        ).map((r) => r.uid);
        if (uids.length > 0) {
          await trx.deleteFrom('application_states').where('application_uid', 'in', uids).execute();
          await trx.deleteFrom('tasks').where('application_uid', 'in', uids).execute();
          await trx.deleteFrom('resources').where('application_uid', 'in', uids).execute();
          await trx.deleteFrom('access_sessions').where('application_uid', 'in', uids).execute();
          // a row that changed since it was read (it cannot: finished is final) stays
          await trx.deleteFrom('applications').where('uid', 'in', uids).where('status', 'in', FINISHED).execute();
        }
        return uids.length;
      });
    },
  };
}
