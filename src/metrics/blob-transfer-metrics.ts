/**
 * Blob bytes this instance sent to clients: what a pull cost the network here. Counted from the
 * blob route (routes/blobs.ts) as the body goes out, so a range counts its bytes and a client that
 * goes away counts what it was sent.
 */
import { Counter, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

export class BlobTransferMetrics {
  readonly #served: Counter;

  constructor(registry: Registry) {
    this.#served = new Counter({
      name: `${METRIC_PREFIX}blob_bytes_served_total`,
      help: 'Bytes of blob GET response bodies written to clients from this instance (ranges included). Blobs redirected to the blobstore (S3, WebDAV, Azure) are not counted: the blobstore serves them.',
      registers: [registry],
    });
  }

  served(bytes: number): void {
    this.#served.inc(bytes);
  }
}

