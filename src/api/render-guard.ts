import type { FastifyInstance } from 'fastify';
import { nestingDepth } from '../core/metadata-limits.js';
import { ApiError } from './errors.js';

/** Deepest response the API serializes (metadata is bounded far below this at submission). */
export const RESPONSE_DEPTH_LIMIT = 100;

/**
 * Every response object is measured (without recursion) before the serializer, which recurses,
 * sees it: data stored by an older node without metadata limits fails that one request with a
 * clear 500 instead of a stack overflow.
 */
export function installRenderGuard(app: FastifyInstance): void {
  app.addHook('preSerialization', async (_req, _reply, payload: unknown) => {
    if (nestingDepth(payload, RESPONSE_DEPTH_LIMIT) > RESPONSE_DEPTH_LIMIT) {
      throw new ApiError(
        'INTERNAL',
        `the answer holds data nested deeper than ${RESPONSE_DEPTH_LIMIT} levels` +
          ` (metadata stored before the node limited it); it cannot be rendered`,
      );
    }
    return payload;
  });
}
