/**
 * The registry's Prometheus metrics: one prom-client `Registry` per registry instance (tests build
 * several in one process, so nothing goes to prom-client's global registry), holding the process
 * metrics and every group below. Components get the group they record into as an optional
 * dependency; `text()` is what `/metrics` answers.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { BlobTransferMetrics } from './blob-transfer-metrics.ts';
import { BlobStoreMetrics } from './blobstore-metrics.ts';
import { ConversionMetrics } from './conversion-metrics.ts';
import { ErrorOrigins } from './error-origins.ts';
import { GcMetrics } from './gc-metrics.ts';
import { HttpMetrics } from './http-metrics.ts';
import { METRIC_PREFIX } from './metric-prefix.ts';
import { PrewarmMetrics } from './prewarm-metrics.ts';
import { ReadyImageCacheMetrics } from './ready-image-cache-metrics.ts';
import { SourceCacheMetrics } from './source-cache-metrics.ts';
import { StorageMetrics } from './storage-metrics.ts';
import { UpstreamMetrics } from './upstream-metrics.ts';

export class RegistryMetrics {
  readonly #registry = new Registry();
  readonly http: HttpMetrics;
  readonly blobTransfer: BlobTransferMetrics;
  readonly conversions: ConversionMetrics;
  readonly readyImageCache: ReadyImageCacheMetrics;
  readonly blobstore: BlobStoreMetrics;
  readonly upstream: UpstreamMetrics;
  readonly sourceCache: SourceCacheMetrics;
  readonly prewarm: PrewarmMetrics;
  readonly gc: GcMetrics;
  readonly storage: StorageMetrics;

  constructor() {
    collectDefaultMetrics({ register: this.#registry, prefix: METRIC_PREFIX });
    this.blobTransfer = new BlobTransferMetrics(this.#registry);
    this.http = new HttpMetrics(this.#registry);
    // Shared: a conversion's failure is counted under the part (source, blobstore) its error came from.
    const origins = new ErrorOrigins();
    this.blobstore = new BlobStoreMetrics(this.#registry, origins);
    this.conversions = new ConversionMetrics(this.#registry, origins);
    this.readyImageCache = new ReadyImageCacheMetrics(this.#registry);
    this.upstream = new UpstreamMetrics(this.#registry);
    this.sourceCache = new SourceCacheMetrics(this.#registry);
    this.prewarm = new PrewarmMetrics(this.#registry);
    this.gc = new GcMetrics(this.#registry);
    this.storage = new StorageMetrics(this.#registry);
  }

  /** `Content-Type` of `text()`: Prometheus' text exposition format 0.0.4. */
  get contentType(): string {
    return this.#registry.contentType;
  }

  /** Every metric in the text exposition format, as a scrape reads it. */
  text(): Promise<string> {
    return this.#registry.metrics();
  }
}
