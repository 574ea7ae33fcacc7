import { Type } from '@sinclair/typebox';

export const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  uptime_s: Type.Number({ description: 'seconds since the API started' }),
  takes_work: Type.Boolean({ description: 'false: the node serves reads and keeps its resources but claims no new work' }),
  reason: Type.Optional(Type.String({ description: 'why it takes no new work (maintenance mode, shutting down, data dir full)' })),
});
export const MetricsText = Type.String({ description: 'Prometheus text exposition format' });
