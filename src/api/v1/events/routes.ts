import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StateEvent } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { ApiError } from '../../errors.js';
import { mediaResponse, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { EventsQuery, EventStream } from './schemas.js';
import { SseStream } from './sse-stream.js';

export interface EventRouteOptions extends RouteDeps {
  heartbeatMs: number;
  maxBufferedBytes: number;
  /** a client that reads nothing this long while its stream is full gets `event: end` */
  slowClientMs: number;
  /** open streams per user; one more → 429 TOO_MANY_REQUESTS */
  maxStreamsPerUser: number;
}

export const eventRoutes: FastifyPluginAsyncTypebox<EventRouteOptions> = async (
  app,
  { core, heartbeatMs, maxBufferedBytes, slowClientMs, maxStreamsPerUser },
) => {
  const open = new Set<SseStream>();
  const perUser = new Map<string, number>();
  app.addHook('preClose', async () => {
    for (const s of open) s.end();
  });

  app.get(
    '/events',
    {
      schema: {
        tags: ['events'],
        summary: 'Server-Sent Events of application state changes you may see',
        description:
          'Each state change is one event (`event: state`) with an `id`; send the last id you saw as the Last-Event-ID header ' +
          '(or ?last_event_id=) to get everything after it, then live events. Users see only their own applications. ' +
          'A client that reads nothing for a while gets a last `event: end` (data: reason, last_event_id) and the stream ends: ' +
          'reconnect with that Last-Event-ID to resume.',
        querystring: EventsQuery,
        response: responses({ 200: mediaResponse('text/event-stream', EventStream) }),
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const mine = perUser.get(caller.id) ?? 0;
      if (mine >= maxStreamsPerUser) {
        throw new ApiError(
          'TOO_MANY_REQUESTS',
          `user "${caller.name}" already has ${mine} open event streams,` +
            ` the limit (node setting events.max_streams_per_user); close one first`,
          { details: { limit: maxStreamsPerUser }, headers: { 'retry-after': '5' } },
        );
      }
      const header = req.headers['last-event-id'];
      const lastId = (Array.isArray(header) ? header[0] : header) || req.query.last_event_id || undefined;
      // Events the core delivers during subscribe() itself wait here until the stream exists.
      const early: StateEvent[] = [];
      let stream: SseStream | null = null;
      let unsubscribe: (() => void) | null = null;
      const onEvent = (ev: StateEvent): void => {
        if (stream === null) early.push(ev);
        else stream.send(ev);
      };
      const flow = {
        full: () => stream?.full() ?? false,
        drained: () => stream?.drained() ?? Promise.resolve(true),
      };
      // A synchronous failure (e.g. a malformed Last-Event-ID) still gets a normal error response.
      unsubscribe = core.subscribe(caller, lastId, onEvent, flow);
      reply.hijack();
      // a stream is quiet between heartbeats: the listener's idle timeout does not apply to it
      reply.raw.socket?.setTimeout(0);
      perUser.set(caller.id, mine + 1);
      let counted = true;
      const s = new SseStream(reply.raw, {
        heartbeatMs,
        maxBufferedBytes,
        slowClientMs,
        ...(lastId !== undefined ? { resumeId: lastId } : {}),
        onClose: (reason) => {
          open.delete(s);
          if (counted) {
            counted = false;
            const n = (perUser.get(caller.id) ?? 1) - 1;
            if (n <= 0) perUser.delete(caller.id);
            else perUser.set(caller.id, n);
          }
          unsubscribe?.();
          unsubscribe = null;
          if (reason === 'slow') req.log.warn({ user: caller.name }, 'event stream ended: the client read nothing for too long');
        },
      });
      stream = s;
      open.add(s);
      for (const ev of early.splice(0)) s.send(ev);
    },
  );
};
