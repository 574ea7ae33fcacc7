import { Type } from '@sinclair/typebox';

export const Health = Type.Object({
  status: Type.Literal('ok'),
  version: Type.String(),
  uptime_s: Type.Number({ description: 'seconds since the API started' }),
});
export const MetricsText = Type.String({ description: 'Prometheus text exposition format' });
