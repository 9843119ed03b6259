/**
 * Calls to the systems the registry depends on — Cloud Controller, UAA, and the blobstore
 * droplet downloads are redirected to — timed by status class, with errors (no answer in time,
 * no connection, a 5xx) counted by kind. Recorded by axios interceptors on each HTTP client.
 */
import { isAxiosError, type AxiosInstance } from 'axios';
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';
import { requestKind } from './request-kind.ts';

/** `cc_blobstore`: where Cloud Controller redirects droplet downloads (response headers timed, not the transfer). */
export type Upstream = 'capi' | 'uaa' | 'cc_blobstore';

type UpstreamError = 'timeout' | 'network' | 'server_error';

export class UpstreamMetrics {
  readonly #duration: Histogram<'upstream' | 'status'>;
  readonly #errors: Counter<'upstream' | 'kind'>;
  readonly #calls: Counter<'upstream' | 'during'>;

  constructor(registry: Registry) {
    this.#calls = new Counter({
      name: `${METRIC_PREFIX}upstream_calls_total`,
      help: 'Calls to Cloud Controller (capi), UAA (uaa) and the droplet blobstore (cc_blobstore), by the kind of request they were made for (token, manifest, blob, tags, referrers, admin, other; background: no request, e.g. the pre-warmer). Divided by the requests of that kind, what each costs the platform.',
      labelNames: ['upstream', 'during'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: `${METRIC_PREFIX}upstream_request_duration_seconds`,
      help: 'Latency of calls to Cloud Controller (capi), UAA (uaa) and the droplet blobstore (cc_blobstore), by status class (2xx…5xx, none without an answer).',
      labelNames: ['upstream', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    this.#errors = new Counter({
      name: `${METRIC_PREFIX}upstream_errors_total`,
      help: 'Failed calls to upstreams, by kind: timeout, network (no connection or answer), server_error (5xx).',
      labelNames: ['upstream', 'kind'],
      registers: [registry],
    });
  }

  /** Times every request `http` makes as calls to `upstream`. */
  instrument(http: AxiosInstance, upstream: Upstream): void {
    const started = new WeakMap<object, number>();
    const elapsed = (config: object | undefined): number | undefined => {
      const start = config && started.get(config);
      return start === undefined ? undefined : (performance.now() - start) / 1000;
    };
    http.interceptors.request.use(
      (config) => {
        this.#calls.inc({ upstream, during: requestKind.getStore() ?? 'background' });
        started.set(config, performance.now());
        return config;
      },
      undefined,
      { synchronous: true },
    );
    http.interceptors.response.use(
      (response) => {
        this.#record(upstream, elapsed(response.config), response.status);
        return response;
      },
      (error: unknown) => {
        if (isAxiosError(error) && error.code !== 'ERR_CANCELED') {
          const status = error.response?.status;
          this.#record(upstream, elapsed(error.config), status);
          const kind: UpstreamError | undefined =
            status === undefined ? (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT' ? 'timeout' : 'network') : status >= 500 ? 'server_error' : undefined;
          if (kind) this.#errors.inc({ upstream, kind });
        }
        return Promise.reject(error);
      },
    );
  }

  #record(upstream: Upstream, seconds: number | undefined, status: number | undefined): void {
    if (seconds === undefined) return;
    this.#duration.observe({ upstream, status: status === undefined ? 'none' : `${Math.floor(status / 100)}xx` }, seconds);
  }
}
