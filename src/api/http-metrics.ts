import { Counter, Histogram, type Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';

function histogram(registry: Registry): Histogram<'method' | 'route' | 'status'> {
  const name = 'shoal_http_request_duration_seconds';
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Histogram) return existing;
  return new Histogram({
    name,
    help: 'HTTP API request latency by route pattern and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
}

function counter(registry: Registry): Counter<'reason'> {
  const name = 'shoal_http_auth_failures_total';
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({ name, help: 'Refused authentication attempts', labelNames: ['reason'], registers: [registry] });
}

/**
 * Records every request's latency under its route pattern (never the raw URL: bounded label
 * values), and counts refused logins. Reuses the metrics when the registry already has them.
 */
export function installHttpMetrics(
  app: FastifyInstance,
  registry: Registry,
): { authFailure: (reason: 'unauthorized' | 'rate_limited') => void } {
  const h = histogram(registry);
  const c = counter(registry);
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === '/api/v1/events') return; // a stream's duration is its connection time, not latency
    h.observe({ method: request.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  return { authFailure: (reason) => c.inc({ reason }) };
}
