import { Type } from '@sinclair/typebox';
import {
  AccessSession,
  Application,
  ApplicationCreate,
  ApplicationState,
  ApplicationStatus,
  Page,
  PageQuery,
  Resource,
  Task,
  TaskCreate,
} from '../../../model/index.js';
import { closed } from '../../closed-schema.js';

export const ApplicationCreateBody = closed(ApplicationCreate);
export const ApplicationListQuery = Type.Object({
  ...PageQuery.properties,
  status: Type.Optional(ApplicationStatus),
});
export const ApplicationPage = Page(Application);
export const StatePage = Page(ApplicationState);
export const TaskCreateBody = closed(TaskCreate);
export const TaskPage = Page(Task);
export const SessionPage = Page(AccessSession);
export const DeallocateResult = Type.Object({
  status: Type.Union([Type.Literal('DEALLOCATE'), Type.Literal('DEALLOCATED')], {
    description: 'DEALLOCATE: the resource is being released (watch /events); DEALLOCATED: nothing was allocated yet, done',
  }),
});
export const ConsoleText = Type.String({ description: 'console/serial output of the resource (text/plain)' });
export { Application, ApplicationState, Resource, Task };
