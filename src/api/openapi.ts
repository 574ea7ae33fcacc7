import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { JSON_TYPES, YAML_TYPES } from './body-parsers.js';
import { describeDefinitionOptions } from './definition-options-doc.js';

const BODY_TYPES = [...JSON_TYPES, YAML_TYPES[0]];

export const OPENAPI_PATH = '/api/openapi.json';
export const DOCS_PATH = '/api/docs';

/**
 * OpenAPI 3 generated from the very schemas the routes validate and serialize with. Must be
 * registered before the routes (it collects them as they are added). `definitionOptions`: each
 * driver's options schema (driver name → JSON Schema), shown for a label definition's `options`.
 */
export async function registerOpenApi(
  app: FastifyInstance,
  version: string,
  definitionOptions: Readonly<Record<string, object>> = {},
): Promise<void> {
  await app.register(swagger, {
    // components are named after the model's $id ("Label", "Application", …)
    refResolver: {
      buildLocalReference: (json: { $id?: unknown }, _base: unknown, _fragment: unknown, i: number) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    // every body may be JSON or YAML
    transform: ({ schema: routeSchema, url }) => {
      const schema = describeDefinitionOptions(routeSchema, definitionOptions);
      if (schema === undefined || schema === null || !('body' in schema) || 'consumes' in schema) return { schema, url };
      return { schema: { ...schema, consumes: [...BODY_TYPES] }, url };
    },
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Shoal node API',
        version,
        description:
          'A pool of ephemeral compute environments. Lifecycle: (admin) POST /users → POST /labels → POST /applications → ' +
          'watch GET /events (or GET /applications/{uid}/state) until ALLOCATED → GET /applications/{uid}/resource → ' +
          '(inside the resource) GET /meta/v1/data on the Meta API listener → POST /applications/{uid}/deallocate → DEALLOCATED.\n\n' +
          'Bodies are JSON or YAML (application/yaml). Every error has the shape {"error":{"code","message","details"?}}; ' +
          'codes are listed in docs/errors.md. Lists take `limit` and `cursor` and answer {items, next_cursor}.',
      },
      servers: [{ url: '/' }],
      tags: [
        { name: 'users', description: 'Accounts and tokens (admin creates users)' },
        { name: 'labels', description: 'Versioned templates of environments' },
        { name: 'applications', description: 'Requests for environments and their lifecycle' },
        { name: 'resources', description: 'Allocated environments' },
        { name: 'nodes', description: 'The nodes of the pool' },
        { name: 'events', description: 'Live state changes (Server-Sent Events)' },
        { name: 'system', description: 'Health and metrics' },
      ],
      components: {
        securitySchemes: {
          basicAuth: { type: 'http', scheme: 'basic', description: 'user name and token' },
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'the token alone' },
        },
      },
      security: [{ basicAuth: [] }, { bearerAuth: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PATH, uiConfig: { url: OPENAPI_PATH } });
  app.get(OPENAPI_PATH, { schema: { hide: true }, config: { auth: false } }, async () => app.swagger());
}
