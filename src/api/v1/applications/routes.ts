import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { paginate } from '../../paginate.js';
import { BODY_ERRORS, mediaResponse, responses, UidParams } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import {
  Application,
  ApplicationCreateBody,
  ApplicationListQuery,
  ApplicationPage,
  ApplicationState,
  ConsoleText,
  DeallocateResult,
  Resource,
  StatePage,
  Task,
  TaskCreateBody,
  SessionPage,
  TaskPage,
} from './schemas.js';

const tags = ['applications'];

export const applicationRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.get(
    '/applications',
    {
      schema: {
        tags,
        summary: 'List your applications (admins: all)',
        querystring: ApplicationListQuery,
        response: responses({ 200: ApplicationPage }),
      },
    },
    async (req) => core.listApplications(callerOf(req), req.query),
  );

  app.post(
    '/applications',
    {
      schema: {
        tags,
        summary: 'Request an environment by label',
        description:
          'Step 3 of the lifecycle: the application starts NEW, a node with capacity claims it (ELECTED) and its driver ' +
          'allocates the resource (ALLOCATED). Follow it with GET /events or GET .../state. `version` omitted = latest; ' +
          "`metadata` is merged over the label's (application keys win).",
        body: ApplicationCreateBody,
        response: responses({ 201: Application }, 404, 422, 503, ...BODY_ERRORS),
      },
    },
    async (req, reply) => {
      const created = await core.createApplication(callerOf(req), req.body);
      return reply.code(201).header('location', `/api/v1/applications/${created.uid}`).send(created);
    },
  );

  app.get(
    '/applications/:uid',
    {
      schema: {
        tags,
        summary: 'One application with its current state',
        params: UidParams,
        response: responses({ 200: Application }, 404),
      },
    },
    async (req) => core.getApplication(callerOf(req), req.params.uid),
  );

  app.get(
    '/applications/:uid/state',
    {
      schema: {
        tags,
        summary: 'Current state',
        description: 'Step 4: wait for ALLOCATED (or ERROR, whose description says why).',
        params: UidParams,
        response: responses({ 200: ApplicationState }, 404),
      },
    },
    async (req) => core.getState(callerOf(req), req.params.uid),
  );

  app.get(
    '/applications/:uid/states',
    {
      schema: {
        tags,
        summary: 'State history, oldest first',
        params: UidParams,
        querystring: PageQuery,
        response: responses({ 200: StatePage }, 404),
      },
    },
    async (req) => core.listStates(callerOf(req), req.params.uid, req.query),
  );

  app.get(
    '/applications/:uid/resource',
    {
      schema: {
        tags,
        summary: 'The allocated resource',
        description:
          'Step 5: where the environment is (node, driver, hwaddr, ipaddr), its merged metadata and when it expires. ' +
          'Inside the resource, the same metadata is served by the Meta API: GET /meta/v1/data.',
        params: UidParams,
        response: responses({ 200: Resource }, 404),
      },
    },
    async (req) => core.getResource(callerOf(req), req.params.uid),
  );

  app.post(
    '/applications/:uid/deallocate',
    {
      schema: {
        tags,
        summary: 'Release the environment',
        description:
          'Step 6: ALLOCATED → DEALLOCATE → (tasks with when=DEALLOCATE) → DEALLOCATED; NEW/ELECTED → DEALLOCATED at once. ' +
          'Answers 202; follow /events for DEALLOCATED.',
        params: UidParams,
        response: responses({ 202: DeallocateResult }, 404, 409, 503),
      },
    },
    async (req, reply) => reply.code(202).send(await core.deallocate(callerOf(req), req.params.uid)),
  );

  app.get(
    '/applications/:uid/sessions',
    {
      schema: {
        tags,
        summary: 'Access sessions into the environment (SSH gate and WebSockets): who, from where, what, when, exit status, bytes',
        params: UidParams,
        querystring: PageQuery,
        response: responses({ 200: SessionPage }, 404),
      },
    },
    async (req) => paginate(await core.listSessions(callerOf(req), req.params.uid), req.query),
  );

  app.get(
    '/applications/:uid/tasks',
    {
      schema: {
        tags,
        summary: 'Tasks of an application',
        params: UidParams,
        querystring: PageQuery,
        response: responses({ 200: TaskPage }, 404),
      },
    },
    async (req) => core.listTasks(callerOf(req), req.params.uid, req.query),
  );

  app.post(
    '/applications/:uid/tasks',
    {
      schema: {
        tags,
        summary: 'Add a task (e.g. snapshot now or when deallocating)',
        params: UidParams,
        body: TaskCreateBody,
        response: responses({ 201: Task }, 404, 409, ...BODY_ERRORS),
      },
    },
    async (req, reply) => reply.code(201).send(await core.createTask(callerOf(req), req.params.uid, req.body)),
  );

  app.get(
    '/applications/:uid/console',
    {
      schema: {
        tags,
        summary: 'Console output of the resource (text), if its driver keeps one',
        params: UidParams,
        response: responses({ 200: mediaResponse('text/plain', ConsoleText) }, 404),
      },
    },
    async (req, reply) => {
      const text = await core.getConsole(callerOf(req), req.params.uid);
      return reply.type('text/plain; charset=utf-8').send(text);
    },
  );
};
