import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from './errors.js';
import type { ErrorBody } from '../model/index.js';

/** Longest path parameter (uid, name) the router accepts; longer → 400 INVALID. */
export const MAX_PARAM_LENGTH = 256;

/**
 * Errors Fastify raises while routing, before any hook or the error handler runs (a path with bad
 * percent-encoding, a path parameter over MAX_PARAM_LENGTH): answered in the one error shape
 * instead of Fastify's own `{"error","code","message","statusCode"}`. The message never echoes
 * the path (it may be long and hold control characters).
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let status = 400;
  let body: ErrorBody;
  if (err.code === 'FST_ERR_BAD_URL') {
    body = { error: { code: 'INVALID', message: 'the URL is not valid: a "%" is not followed by two hex digits of valid UTF-8' } };
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    body = { error: { code: 'INVALID', message: `a path parameter is longer than ${MAX_PARAM_LENGTH} characters` } };
  } else {
    status = 500;
    request.log.error({ err }, 'request failed while routing');
    body = { error: { code: 'INTERNAL', message: `internal error (request ${request.id}); the node's log has the cause` } };
  }
  void reply.code(status).type('application/json; charset=utf-8').send(body);
}

/**
 * An HTTP/1.1 request without a Host header is refused with 400 INVALID in the one error shape.
 * (Node's own check answers a bare 400 before any handler runs, so the server is built with
 * `requireHostHeader: false` and this hook does the check instead.)
 */
export function requireHost(app: FastifyInstance): void {
  app.addHook('onRequest', async (req) => {
    const raw = req.raw;
    if (raw.httpVersionMajor === 1 && raw.httpVersionMinor >= 1 && (raw.headers.host === undefined || raw.headers.host === '')) {
      throw new ApiError('INVALID', 'an HTTP/1.1 request needs a Host header');
    }
  });
}
