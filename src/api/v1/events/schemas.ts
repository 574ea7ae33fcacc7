import { Type } from '@sinclair/typebox';

export const EventsQuery = Type.Object({
  last_event_id: Type.Optional(
    Type.String({ maxLength: 200, description: 'resume after this event id (same as the Last-Event-ID header, which wins)' }),
  ),
});
export const EventStream = Type.String({
  description:
    'text/event-stream. Each event: "id: <id>", "event: state", "data: {application_uid, status, description, created_at}". ' +
    'A comment line (": ping") is sent every 15 s. Reconnect with Last-Event-ID to resume without gaps.',
});
