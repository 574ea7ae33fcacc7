import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from '../../auth.js';
import { BODY_ERRORS, NoContent, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { TokenCreateBody, TokenCreated, TokenList, TokenParams, UserNameParams } from './schemas.js';

const tags = ['users'];

/** A user's API tokens (admins: anyone's; users: their own). */
export const tokenRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.post(
    '/users/:name/tokens',
    {
      schema: {
        tags,
        summary: 'Create a token for a user (admin, or yourself); it is shown once',
        description: 'For CI robots: name it after what uses it, and give it an expiry (`expires_in`, e.g. "30d").',
        params: UserNameParams,
        body: TokenCreateBody,
        response: responses({ 201: TokenCreated }, 404, 409, ...BODY_ERRORS),
      },
    },
    async (req, reply) => reply.code(201).send(await core.createToken(callerOf(req), req.params.name, req.body)),
  );

  app.get(
    '/users/:name/tokens',
    {
      schema: {
        tags,
        summary: "A user's tokens (admin, or yourself): ids, names, expiry; never the secret",
        params: UserNameParams,
        response: responses({ 200: TokenList }, 404),
      },
    },
    async (req) => ({ items: await core.listTokens(callerOf(req), req.params.name) }),
  );

  app.delete(
    '/users/:name/tokens/:id',
    {
      schema: {
        tags,
        summary: 'Revoke a token (admin, or yourself): refused from the next request on, on every node',
        params: TokenParams,
        response: responses({ 204: NoContent }, 404, 409),
      },
    },
    async (req, reply) => {
      await core.revokeToken(callerOf(req), req.params.name, req.params.id);
      return reply.code(204).send(null);
    },
  );
};
