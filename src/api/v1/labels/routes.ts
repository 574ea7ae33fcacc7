import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { callerOf } from '../../auth.js';
import { BODY_ERRORS, NoContent, responses, UidParams } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { Label, LabelCreateBody, LabelListQuery, LabelNameOwner, LabelNameParams, LabelOwnerSetBody, LabelPage } from './schemas.js';

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
          'a bad one is refused with INVALID_DEFINITION naming the field (details.definition_index, details.field). ' +
          'Label names are owned by their first publisher: a new version of a name owned by another user is refused with 403 ' +
          "FORBIDDEN naming the owner (an admin may publish one; it keeps the name's owner).",
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

  app.get(
    '/label-names/:name',
    {
      schema: { tags, summary: 'Who owns a label name', params: LabelNameParams, response: responses({ 200: LabelNameOwner }, 404) },
    },
    async (req) => core.getLabelOwner(callerOf(req), req.params.name),
  );

  app.put(
    '/label-names/:name',
    {
      schema: {
        tags,
        summary: 'Give a label name to another user (admin)',
        description:
          "The name's next versions can only be published (and its versions deleted) by the new owner or an admin. Versions " +
          'already published keep the owner they were published under, and so their reused disks.',
        params: LabelNameParams,
        body: LabelOwnerSetBody,
        response: responses({ 200: LabelNameOwner }, 403, ...BODY_ERRORS),
      },
    },
    async (req) => core.setLabelOwner(callerOf(req), req.params.name, req.body.owner),
  );
};
