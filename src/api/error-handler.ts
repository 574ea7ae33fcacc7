import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ErrorBody } from '../model/index.js';
import type { Socket } from 'node:net';
import { ApiError, HTTP_STATUS, mapKnownError, type ErrorCode, type MappedError } from './errors.js';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
}

const BY_STATUS: Readonly<Record<number, ErrorCode>> = {
  400: 'INVALID',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'UNSATISFIABLE',
  429: 'TOO_MANY_REQUESTS',
  503: 'UNAVAILABLE',
};

function mapped(code: ErrorCode, message: string, details?: unknown): MappedError {
  const body: ErrorBody = details === undefined ? { error: { code, message } } : { error: { code, message, details } };
  return { status: HTTP_STATUS[code], headers: {}, body };
}

/** Turns any error (ours, the core's, Fastify's, or a bug) into status + the one error body. */
export function mapError(err: unknown, request: FastifyRequest, bodyLimit: number): MappedError {
  const known = mapKnownError(err);
  if (known !== null) return known;
  const fe = err as Partial<FastifyError> & { validation?: ValidationIssue[]; validationContext?: string };
  if (Array.isArray(fe.validation)) {
    const ctx = fe.validationContext ?? 'request';
    const fields = fe.validation.map((v) => ({ field: `${ctx}${v.instancePath ?? ''}`, problem: v.message ?? 'is not valid' }));
    return mapped('INVALID', fe.message ?? 'invalid request', { fields });
  }
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return mapped('PAYLOAD_TOO_LARGE', `body is larger than the limit of ${bodyLimit} bytes`, { limit: bodyLimit });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const ct = String(request.headers['content-type'] ?? '').slice(0, 100);
      return mapped('UNSUPPORTED_MEDIA_TYPE', `Content-Type "${ct}" is not supported: send application/json or application/yaml`);
    }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return mapped('MALFORMED_BODY', 'the body length does not match Content-Length');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return mapped('INVALID', 'body is required: send a JSON or YAML object');
    default:
      break;
  }
  const status = typeof fe.statusCode === 'number' ? fe.statusCode : 500;
  if (status >= 400 && status < 500) {
    // Fastify's own client errors (bad URL, header too large, …): the code of that status, else INVALID
    return mapped(BY_STATUS[status] ?? 'INVALID', fe.message ?? 'bad request');
  }
  return mapped('INTERNAL', `internal error (request ${request.id}); the node's log has the cause`);
}

/**
 * Installs the one error shape for every failure and for unknown routes. 5xx are logged with
 * their cause; 4xx only with code and message (never a body, a header or a metadata value).
 */
export function installErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const m = mapError(err, request, bodyLimit);
    if (m.status >= 500) request.log.error({ err }, 'request failed');
    else {
      // auth refusals are worth seeing at info (and are counted in shoal_http_auth_failures_total); other 4xx at debug
      const level = m.status === 401 || m.status === 429 ? 'info' : 'debug';
      request.log[level]({ code: m.body.error.code, status: m.status, reason: m.body.error.message }, 'request refused');
    }
    return reply.code(m.status).headers(m.headers).type('application/json; charset=utf-8').send(m.body);
  });
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
    const url = request.url.split('?')[0]?.slice(0, 200) ?? '';
    const body: ErrorBody = {
      error: { code: 'NOT_FOUND', message: `no such route: ${request.method} ${url} (the API is under /api/v1; see /api/docs)` },
    };
    return reply.code(404).type('application/json; charset=utf-8').send(body);
  });
}

/**
 * Answers requests Node could not even parse (malformed HTTP, headers too large, timeouts) in the
 * one error shape, then closes the connection.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Something was already answered on this connection (e.g. a 401 before a body that then never
  // completed): a second answer would be read as the reply to a request the client never sent.
  if (socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  const message =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'the request took too long to arrive'
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are too large'
        : 'malformed HTTP request';
  const body = JSON.stringify({ error: { code: 'INVALID', message } });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** While the API closes, new requests get 503 UNAVAILABLE in the one error shape. */
export function installShutdownGuard(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (_req, reply) => {
    if (closing) {
      reply.header('connection', 'close');
      throw new ApiError('UNAVAILABLE', 'the node is shutting down; try again shortly or use another node');
    }
  });
}
