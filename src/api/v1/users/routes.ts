import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { BODY_ERRORS, NoContent, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { User, UserCreateBody, UserCreated, UserNameParams, UserPage } from './schemas.js';

const tags = ['users'];

export const userRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.get(
    '/users',
    {
      schema: {
        tags,
        summary: 'List users (admin)',
        querystring: PageQuery,
        response: responses({ 200: UserPage }, 403),
      },
    },
    async (req) => core.listUsers(callerOf(req), req.query),
  );

  app.post(
    '/users',
    {
      schema: {
        tags,
        summary: 'Create a user (admin); the token is shown once',
        description: 'Step 1 of the lifecycle (as admin): create the user who will request environments. Keep the returned token.',
        body: UserCreateBody,
        response: responses({ 201: UserCreated }, 403, 409, ...BODY_ERRORS),
      },
    },
    async (req, reply) => {
      const created = await core.createUser(callerOf(req), req.body);
      return reply
        .code(201)
        .header('location', `/api/v1/users/${encodeURIComponent(created.name)}`)
        .send(created);
    },
  );

  app.get('/users/me', { schema: { tags, summary: 'The authenticated user', response: responses({ 200: User }) } }, async (req) => {
    const caller = callerOf(req);
    return core.getUser(caller, caller.name);
  });

  app.get(
    '/users/:name',
    { schema: { tags, summary: 'One user (admin, or yourself)', params: UserNameParams, response: responses({ 200: User }, 403, 404) } },
    async (req) => core.getUser(callerOf(req), req.params.name),
  );

  app.delete(
    '/users/:name',
    {
      schema: { tags, summary: 'Delete a user (admin)', params: UserNameParams, response: responses({ 204: NoContent }, 403, 404, 409) },
    },
    async (req, reply) => {
      await core.deleteUser(callerOf(req), req.params.name);
      return reply.code(204).send(null);
    },
  );
};
