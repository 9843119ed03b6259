/**
 * Blobstore operations by kind and outcome, with their latency; and which errors came from the
 * blobstore, so a conversion that fails on one is counted under the `blobstore` reason.
 */
import type { Writable } from 'node:stream';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { ErrorOrigins } from './error-origins.ts';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** The BlobStore calls (and a staged write's commit and cancel), as label values. */
export type BlobStoreOperation = 'stage' | 'commit' | 'cancel' | 'stat' | 'open' | 'put' | 'delete' | 'sweep_staging' | 'redirect_url';

/** `not_found`: `stat` found nothing, or `open` was asked for an absent blob. */
export type BlobStoreOutcome = 'ok' | 'not_found' | 'error';

export class BlobStoreMetrics {
  readonly #operations: Counter<'operation' | 'outcome'>;
  readonly #duration: Histogram<'operation'>;
  readonly #origins: ErrorOrigins;

  constructor(registry: Registry, origins: ErrorOrigins) {
    this.#origins = origins;
    this.#operations = new Counter({
      name: `${METRIC_PREFIX}blobstore_operations_total`,
      help: 'Blobstore operations by operation and outcome (ok, not_found, error).',
      labelNames: ['operation', 'outcome'],
      registers: [registry],
    });
    this.#duration = new Histogram({
      name: `${METRIC_PREFIX}blobstore_operation_duration_seconds`,
      help: 'Latency of blobstore operations (open: until the stream is ready, not the transfer).',
      labelNames: ['operation'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
  }

  record(operation: BlobStoreOperation, outcome: BlobStoreOutcome, seconds: number): void {
    this.#operations.inc({ operation, outcome });
    this.#duration.observe({ operation }, seconds);
  }

  /** Remembers that `error` came out of the blobstore. */
  markFailure(error: unknown): void {
    this.#origins.mark(error, 'blobstore');
  }

  /** Remembers the errors of a staged write (remote stores report a failed upload there, not at commit). */
  watchWrite(writable: Writable): void {
    this.#origins.watch(writable, 'blobstore');
  }
}
