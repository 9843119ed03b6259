/**
 * `GET /metrics` on the registry's own port (METRICS_PORT=0). Unauthenticated, as Prometheus
 * scrapes; behind the gorouter that makes it public, hence the separate listener for deployments.
 */
import type { ServerRoute } from '@hapi/hapi';
import type { RegistryMetrics } from './registry-metrics.ts';

export const METRICS_PATH = '/metrics';

export function metricsRoute(metrics: RegistryMetrics): ServerRoute {
  return {
    method: 'GET',
    path: METRICS_PATH,
    handler: async (_request, h) => h.response(await metrics.text()).type(metrics.contentType),
  };
}
