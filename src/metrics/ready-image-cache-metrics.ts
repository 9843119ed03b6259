/**
 * Hits and misses of the in-process cache of ready images (ready-image-cache.ts), which answers
 * warm pulls without asking the database: a falling hit rate means warm pulls pay a database
 * round trip again. Counted by a cache that records its own lookups, wired in by `main`.
 */
import { Counter, type Registry } from 'prom-client';
import type { ImageKey, ImageState } from '../db/queries/images.ts';
import { ReadyImageCache, type ReadyImageCacheOptions } from '../images/ready-image-cache.ts';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** What was looked up: an image by its key (pulls by tag), by manifest digest, a blob's size. */
type Lookup = 'image' | 'manifest' | 'blob_size';

export class ReadyImageCacheMetrics {
  readonly #lookups: Counter<'lookup' | 'result'>;

  constructor(registry: Registry) {
    this.#lookups = new Counter({
      name: `${METRIC_PREFIX}ready_image_cache_lookups_total`,
      help: 'Lookups in the in-process cache of ready images, by what was looked up (image, manifest, blob_size) and result (hit, miss: the database is asked).',
      labelNames: ['lookup', 'result'],
      registers: [registry],
    });
  }

  record(lookup: Lookup, hit: boolean): void {
    this.#lookups.inc({ lookup, result: hit ? 'hit' : 'miss' });
  }
}

/** The ready-image cache, counting its hits and misses. */
export class CountingReadyImageCache extends ReadyImageCache {
  readonly #metrics: ReadyImageCacheMetrics;

  constructor(metrics: ReadyImageCacheMetrics, options?: ReadyImageCacheOptions) {
    super(options);
    this.#metrics = metrics;
  }

  override image(key: ImageKey): ImageState | undefined {
    const image = super.image(key);
    this.#metrics.record('image', image !== undefined);
    return image;
  }

  override imageByManifest(appGuid: string, manifestDigest: string): ImageState | undefined {
    const image = super.imageByManifest(appGuid, manifestDigest);
    this.#metrics.record('manifest', image !== undefined);
    return image;
  }

  override blobSize(appGuid: string, digest: string): number | undefined {
    const size = super.blobSize(appGuid, digest);
    this.#metrics.record('blob_size', size !== undefined);
    return size;
  }
}
