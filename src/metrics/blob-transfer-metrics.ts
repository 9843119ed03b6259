/**
 * Blob bytes this instance sent to clients: what a pull cost the network here. Counted from the
 * blob route (routes/blobs.ts) as the body goes out, so a range counts its bytes and a client that
 * goes away counts what it was sent. The route finds the counter through its hapi server
 * (`blobTransferMetricsOf`): `HttpMetrics.recordRequests` attaches it to every server it records.
 */
import type { Server } from '@hapi/hapi';
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** The counters of each recorded server, keyed by its `app` object (one per server, shared with its plugins). */
const attached = new WeakMap<object, BlobTransferMetrics>();

export class BlobTransferMetrics {
  readonly #served: Counter;

  constructor(registry: Registry) {
    this.#served = new Counter({
      name: `${METRIC_PREFIX}blob_bytes_served_total`,
      help: 'Bytes of blob GET response bodies written to clients from this instance (ranges included). Blobs redirected to the blobstore (S3, WebDAV, Azure) are not counted: the blobstore serves them.',
      registers: [registry],
    });
  }

  /** Makes the counter reachable from the routes of `server`. */
  attachTo(server: Server): void {
    attached.set(server.app, this);
  }

  served(bytes: number): void {
    this.#served.inc(bytes);
  }
}

/** The counter attached to `server`, if its metrics are recorded. */
export function blobTransferMetricsOf(server: Server): BlobTransferMetrics | undefined {
  return attached.get(server.app);
}
