import { taskFromDb, taskToDb } from '../rows.js';
import type { StoreSignal, TaskRow, TaskStatus, TaskWhen } from '../types.js';
import type { RepositoryContext } from './context.js';

/** Tasks on an application's resource (snapshots), run now or at deallocation. */
export interface TasksRepository {
  insertTask(row: TaskRow, signals?: readonly StoreSignal[]): Promise<void>;
  getTask(uid: string): Promise<TaskRow | undefined>;
  /** an application's tasks, oldest first (after `after`, at most `limit`; all without a page) */
  listTasks(applicationUid: string, page?: { limit: number; after?: { created_at: string; uid: string } }): Promise<TaskRow[]>;
  /** PENDING tasks with `when` of applications elected by `node` (and in `statuses`) */
  pendingTasks(node: string, when: TaskWhen, applicationUid?: string): Promise<TaskRow[]>;
  /** conditional: only if the task is in `from` */
  updateTask(uid: string, from: readonly TaskStatus[], to: TaskStatus, result: string, at: string): Promise<boolean>;
}

export function tasksRepository({ db, notify }: RepositoryContext): TasksRepository {
  return {
    async insertTask(row, signals = []) {
      await db.insertInto('tasks').values(taskToDb(row)).execute();
      await notify(signals);
    },

    async getTask(uid) {
      const r = await db.selectFrom('tasks').selectAll().where('uid', '=', uid).executeTakeFirst();
      return r ? taskFromDb(r) : undefined;
    },

    async listTasks(applicationUid, page) {
      let q = db.selectFrom('tasks').selectAll().where('application_uid', '=', applicationUid);
      const after = page?.after;
      // a row-value comparison: both dialects seek the (application_uid, created_at, uid) index with it
      if (after) q = q.where((eb) => eb(eb.refTuple('created_at', 'uid'), '>', eb.tuple(after.created_at, after.uid)));
      q = q.orderBy('created_at').orderBy('uid');
      if (page) q = q.limit(page.limit);
      return (await q.execute()).map(taskFromDb);
    },

    async pendingTasks(node, when, applicationUid) {
      let q = db
        .selectFrom('tasks as t')
        .innerJoin('applications as a', 'a.uid', 't.application_uid')
        .selectAll('t')
        .where('t.status', '=', 'PENDING')
        .where('t.run_when', '=', when)
        .where('a.node', '=', node);
      if (applicationUid !== undefined) q = q.where('t.application_uid', '=', applicationUid);
      const rows = await q.orderBy('t.created_at').orderBy('t.uid').execute();
      return rows.map(taskFromDb);
    },

    async updateTask(uid, from, to, result, at) {
      const r = await db
        .updateTable('tasks')
        .set({ status: to, result, updated_at: at })
        .where('uid', '=', uid)
        .where('status', 'in', from)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },
  };
}
