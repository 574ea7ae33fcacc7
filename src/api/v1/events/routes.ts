import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { StateEvent } from '../../../model/index.js';
import { callerOf } from '../../auth.js';
import { mediaResponse, responses } from '../common-schemas.js';
import type { RouteDeps } from '../route-deps.js';
import { EventsQuery, EventStream } from './schemas.js';
import { SseStream } from './sse-stream.js';

export interface EventRouteOptions extends RouteDeps {
  heartbeatMs: number;
  maxBufferedBytes: number;
}

export const eventRoutes: FastifyPluginAsyncTypebox<EventRouteOptions> = async (app, { core, heartbeatMs, maxBufferedBytes }) => {
  const open = new Set<SseStream>();
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
          '(or ?last_event_id=) to get everything after it, then live events. Users see only their own applications.',
        querystring: EventsQuery,
        response: responses({ 200: mediaResponse('text/event-stream', EventStream) }),
      },
    },
    async (req, reply) => {
      const caller = callerOf(req);
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
      // A synchronous failure (e.g. a malformed Last-Event-ID) still gets a normal error response.
      unsubscribe = core.subscribe(caller, lastId, onEvent);
      reply.hijack();
      const s = new SseStream(reply.raw, {
        heartbeatMs,
        maxBufferedBytes,
        onClose: (reason) => {
          open.delete(s);
          unsubscribe?.();
          unsubscribe = null;
          if (reason === 'slow') req.log.warn({ user: caller.name }, 'event stream dropped: client too slow');
        },
      });
      stream = s;
      open.add(s);
      for (const ev of early.splice(0)) s.send(ev);
    },
  );
};
