/**
 * Hits and misses of the in-process cache of ready images (ready-image-cache.ts), which answers
 * warm pulls without asking the database: a falling hit rate means warm pulls pay a database
 * round trip again. The cache tells of each lookup (its `onLookup`), wired in by the composition.
 */
import { Counter, type Registry } from 'prom-client';
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
