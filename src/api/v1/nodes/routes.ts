import { createReadStream } from 'node:fs';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { paginate } from '../../paginate.js';
import { BODY_ERRORS, mediaResponse, NoContent, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import {
  DatabaseBackup,
  MaintenanceBody,
  NodeForgotten,
  NodeInfo,
  NodeNameParams,
  NodePage,
  StoredItemList,
  StoredItemParams,
  StoredItemQuery,
} from './schemas.js';

const tags = ['nodes'];

export const nodeRoutes: FastifyPluginAsyncTypebox<RouteDeps> = async (app, { core }) => {
  app.get(
    '/nodes',
    {
      schema: {
        tags,
        summary: 'Nodes of the pool with capacity, drivers and heartbeat',
        querystring: PageQuery,
        response: responses({ 200: NodePage }),
      },
    },
    async (req) => paginate(await core.listNodes(callerOf(req)), req.query),
  );

  app.get(
    '/nodes/this',
    { schema: { tags, summary: 'The node answering this request', response: responses({ 200: NodeInfo }) } },
    async (req) => core.thisNode(callerOf(req)),
  );

  app.get(
    '/nodes/this/backup',
    {
      schema: {
        tags,
        summary: "A consistent copy of this node's SQLite database, streamed (admin); 409 on PostgreSQL (use pg_dump)",
        response: responses({ 200: mediaResponse('application/vnd.sqlite3', DatabaseBackup) }, 403, 409),
      },
    },
    async (req, reply) => {
      const copy = await core.backupDatabase(callerOf(req));
      const body = createReadStream(copy.path);
      // the copy goes once it has been sent, or the client left, or reading it failed
      let removed = false;
      const remove = (): void => {
        if (removed) return;
        removed = true;
        void copy.remove().catch((err: Error) => req.log.warn({ err: err.message }, 'could not remove a backup copy'));
      };
      body.on('close', remove);
      reply.raw.on('close', () => {
        body.destroy();
        remove();
      });
      return reply
        .header('content-type', 'application/vnd.sqlite3')
        .header('content-length', String(copy.bytes))
        .header('content-disposition', `attachment; filename="shoal-${new Date().toISOString().replace(/[:.]/g, '-')}.db"`)
        .header('cache-control', 'no-store')
        .send(body);
    },
  );

  app.post(
    '/nodes/this/maintenance',
    {
      schema: {
        tags,
        summary: 'Maintenance mode on/off (admin): stop or resume taking new work',
        body: MaintenanceBody,
        response: responses({ 200: NodeInfo }, 403, ...BODY_ERRORS),
      },
    },
    async (req) => core.setMaintenance(callerOf(req), req.body.enabled),
  );

  app.post(
    '/nodes/:name/forget',
    {
      schema: {
        tags,
        summary:
          'Forget a node known to be gone (admin): its applications end (ERROR / DEALLOCATED, "node X lost at …") and its row is deleted; 409 while it still answers',
        params: NodeNameParams,
        response: responses({ 200: NodeForgotten }, 403, 404, 409),
      },
    },
    async (req) => core.forgetNode(callerOf(req), req.params.name),
  );

  for (const kind of ['images', 'disks'] as const) {
    const what = kind === 'images' ? 'cached images' : 'kept disks (reused disks) and snapshots';
    app.get(
      `/nodes/:name/${kind}`,
      {
        schema: {
          tags,
          summary: `The ${what} of this node's drivers, with sizes, last use and whether a resource uses them (admin)`,
          params: NodeNameParams,
          response: responses({ 200: StoredItemList }, 403, 404, 409),
        },
      },
      async (req) => core.listStored(callerOf(req), req.params.name, kind),
    );
    app.delete(
      `/nodes/:name/${kind}/:id`,
      {
        schema: {
          tags,
          summary: `Remove one of the ${what} of this node (admin); 409 while a resource uses it`,
          params: StoredItemParams,
          querystring: StoredItemQuery,
          response: responses({ 204: NoContent }, 400, 403, 404, 409),
        },
      },
      async (req, reply) => {
        await core.removeStored(callerOf(req), req.params.name, kind, req.params.id, req.query.driver);
        return reply.code(204).send(null);
      },
    );
  }
};
