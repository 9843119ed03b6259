/**
 * Requests by route and status, and their latency. The route label is the hapi route's path
 * template (`/v2/token`, `/healthz`), never the URL: the `/v2/` catch-all is labelled with the
 * endpoint its path names (`/v2/{name}/manifests/{reference}`), and requests no route matched with
 * `unmatched`, so names, guids and digests never become label values.
 */
import type { Request, Server } from '@hapi/hapi';
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** Label of requests that matched no route (404 from the router). */
const UNMATCHED_ROUTE = 'unmatched';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const V2_CATCH_ALL = '/v2/{path*}';
const V2_ENDPOINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^.+\/manifests\/[^/]+$/, '/v2/{name}/manifests/{reference}'],
  [/^.+\/blobs\/[^/]+$/, '/v2/{name}/blobs/{digest}'],
  [/^.+\/referrers\/[^/]+$/, '/v2/{name}/referrers/{digest}'],
  [/^.+\/tags\/list$/, '/v2/{name}/tags/list'],
];

export class HttpMetrics {
  readonly #requests: Counter<'method' | 'route' | 'status'>;
  readonly #duration: Histogram<'method' | 'route'>;

  constructor(registry: Registry) {
    this.#requests = new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by method, route template and status code.',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Time from receiving a request to the end of its response (blob bodies streamed from here included), by method and route template.',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    });
  }

  /** Records every response of `server` once it has been sent (or the client went away). */
  recordRequests(server: Server): void {
    server.events.on('response', (request) => {
      const method = METHODS.has(request.method.toUpperCase()) ? request.method.toUpperCase() : 'OTHER';
      const route = routeLabel(request);
      const status = (request.response as { statusCode?: number } | null)?.statusCode;
      const seconds = Math.max(0, (request.info.completed || Date.now()) - request.info.received) / 1000;
      this.#requests.inc({ method, route, status: status === undefined ? 'none' : String(status) });
      this.#duration.observe({ method, route }, seconds);
    });
  }
}

/** The route template a request is counted under. */
function routeLabel(request: Request): string {
  // hapi's own not-found (and bad-request) routes are the "_special" ones.
  if ((request.route.method as string) === '_special') return UNMATCHED_ROUTE;
  if (request.route.path !== V2_CATCH_ALL) return request.route.path;
  const path = typeof request.params.path === 'string' ? request.params.path : '';
  if (path === '') return '/v2/';
  return V2_ENDPOINTS.find(([pattern]) => pattern.test(path))?.[1] ?? V2_CATCH_ALL;
}
