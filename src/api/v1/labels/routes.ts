import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from '../../auth.js';
import { BODY_ERRORS, NoContent, responses, UidParams } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { Label, LabelCreateBody, LabelListQuery, LabelPage } from './schemas.js';

const tags = ['labels'];

export const labelRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.get(
    '/labels',
    {
      schema: {
        tags,
        summary: 'List labels',
        description: 'Filter by `name`; `version=latest` keeps only the newest version of each name.',
        querystring: LabelListQuery,
        response: responses({ 200: LabelPage }),
      },
    },
    async (req) => core.listLabels(callerOf(req), req.query),
  );

  app.post(
    '/labels',
    {
      schema: {
        tags,
        summary: 'Create a label (a new version when the name exists)',
        description:
          'Step 2 of the lifecycle: describe the environment. Every definition is checked by its driver before anything is stored; ' +
          'a bad one is refused with INVALID_DEFINITION naming the field (details.definition_index, details.field).',
        body: LabelCreateBody,
        response: responses({ 201: Label }, 403, 409, 422, ...BODY_ERRORS),
      },
    },
    async (req, reply) => {
      const label = await core.createLabel(callerOf(req), req.body);
      return reply.code(201).header('location', `/api/v1/labels/${label.uid}`).send(label);
    },
  );

  app.get(
    '/labels/:uid',
    { schema: { tags, summary: 'One label version', params: UidParams, response: responses({ 200: Label }, 404) } },
    async (req) => core.getLabel(callerOf(req), req.params.uid),
  );

  app.delete(
    '/labels/:uid',
    {
      schema: { tags, summary: 'Delete a label version', params: UidParams, response: responses({ 204: NoContent }, 403, 404, 409) },
    },
    async (req, reply) => {
      await core.deleteLabel(callerOf(req), req.params.uid);
      return reply.code(204).send(null);
    },
  );
};
