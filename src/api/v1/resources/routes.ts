import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { ResourcePage } from './schemas.js';

export const resourceRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.get(
    '/resources',
    {
      schema: {
        tags: ['resources'],
        summary: 'List allocated resources (yours; admins: all)',
        querystring: PageQuery,
        response: responses({ 200: ResourcePage }),
      },
    },
    async (req) => core.listResources(callerOf(req), req.query),
  );
};
