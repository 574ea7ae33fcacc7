import { Type, type Static } from '@sinclair/typebox';
import { Timestamp, Uid } from './common.js';

export const TASK_KINDS = ['snapshot'] as const;
export const TASK_WHEN = ['NOW', 'DEALLOCATE'] as const;
export const TASK_STATUSES = ['PENDING', 'RUNNING', 'DONE', 'FAILED'] as const;

export const TaskCreate = Type.Object({
  task: Type.Union(TASK_KINDS.map((k) => Type.Literal(k))),
  options: Type.Optional(Type.Object({ full: Type.Optional(Type.Boolean()) })),
  when: Type.Optional(
    Type.Union(
      TASK_WHEN.map((w) => Type.Literal(w)),
      { default: 'NOW' },
    ),
  ),
});
export type TaskCreate = Static<typeof TaskCreate>;

export const Task = Type.Object(
  {
    uid: Uid,
    application_uid: Uid,
    task: Type.Union(TASK_KINDS.map((k) => Type.Literal(k))),
    options: Type.Object({ full: Type.Optional(Type.Boolean()) }),
    when: Type.Union(TASK_WHEN.map((w) => Type.Literal(w))),
    status: Type.Union(TASK_STATUSES.map((s) => Type.Literal(s))),
    result: Type.String({ description: 'driver info (e.g. where the snapshot is) or the error' }),
    created_at: Timestamp,
  },
  { $id: 'Task' },
);
export type Task = Static<typeof Task>;
