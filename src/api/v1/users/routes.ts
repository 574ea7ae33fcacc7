import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { paginate } from '../../paginate.js';
import { BODY_ERRORS, NoContent, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import {
  User,
  UserCreateBody,
  UserCreated,
  UserDeleteQuery,
  UserKey,
  UserKeyCreateBody,
  UserKeyPage,
  UserKeyParams,
  UserNameParams,
  UserPage,
} from './schemas.js';

const tags = ['users'];

/** "me" in a key route means the caller. */
const whom = (caller: { name: string }, name: string): string => (name === 'me' ? caller.name : name);

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
      schema: {
        tags,
        summary: 'Delete a user (admin)',
        description:
          'Their tokens stop working at once, on every node. Refused (409) while they have live applications, unless ' +
          '`force=true` deallocates them. Labels and label names stay, owned by the deleted user (an admin gives names ' +
          'away); a new user of the same name inherits nothing.',
        params: UserNameParams,
        querystring: UserDeleteQuery,
        response: responses({ 204: NoContent }, 403, 404, 409),
      },
    },
    async (req, reply) => {
      await core.deleteUser(callerOf(req), req.params.name, { force: req.query.force === true });
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/users/:name/keys',
    {
      schema: {
        tags,
        summary: 'A user\'s public SSH keys (admin, or yourself: "me")',
        params: UserNameParams,
        querystring: PageQuery,
        response: responses({ 200: UserKeyPage }, 404),
      },
    },
    async (req) => {
      const caller = callerOf(req);
      return paginate(await core.listUserKeys(caller, whom(caller, req.params.name)), req.query);
    },
  );

  app.post(
    '/users/:name/keys',
    {
      schema: {
        tags,
        summary: 'Register a public SSH key (admin, or yourself: "me")',
        description:
          "The SSH gate lets the key's holder into the environments this user may reach (`ssh -p 8022 <application uid>@node`). " +
          'One key belongs to one user.',
        params: UserNameParams,
        body: UserKeyCreateBody,
        response: responses({ 201: UserKey }, 404, 409, ...BODY_ERRORS),
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const name = whom(caller, req.params.name);
      const key = await core.addUserKey(caller, name, req.body);
      return reply
        .code(201)
        .header('location', `/api/v1/users/${encodeURIComponent(name)}/keys/${encodeURIComponent(key.fingerprint)}`)
        .send(key);
    },
  );

  app.delete(
    '/users/:name/keys/:fingerprint',
    {
      schema: {
        tags,
        summary: 'Remove a public SSH key (admin, or yourself: "me")',
        params: UserKeyParams,
        response: responses({ 204: NoContent }, 404),
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      await core.deleteUserKey(caller, whom(caller, req.params.name), req.params.fingerprint);
      return reply.code(204).send(null);
    },
  );
};
