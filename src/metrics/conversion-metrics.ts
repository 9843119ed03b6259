/**
 * What conversions cost and how they end: count and duration by outcome, droplet bytes read and
 * layer bytes written, failures by a bounded reason, conversions running and waiting for a slot,
 * rebases (images of a converted droplet on a new base), and how often a pull (or a pre-warm)
 * found its image ready instead of converting it.
 */
import type { Readable } from 'node:stream';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { InvalidDropletError, RegistryError } from '../errors/registry-error.ts';
import type { ErrorOrigins } from './error-origins.ts';
import { METRIC_PREFIX } from './metric-prefix.ts';

/**
 * Why a conversion failed: the droplet itself (hostile or corrupt), the droplet source (CAPI or
 * its blobstore unavailable, the download cut or stalled), the registry's blobstore, anything else.
 */
export type ConversionFailureReason = 'invalid_droplet' | 'source' | 'blobstore' | 'other';

/** Who asked for an image: a pull, or the pre-warmer. */
export type ImageLookupTrigger = 'pull' | 'prewarm';

/** Conversions running and waiting on this instance, read at each scrape. */
export interface ConversionLoad {
  readonly running: number;
  readonly waiting: number;
}

export class ConversionMetrics {
  readonly #conversions: Counter<'outcome'>;
  readonly #duration: Histogram<'outcome'>;
  readonly #failures: Counter<'reason'>;
  readonly #bytesIn: Counter;
  readonly #bytesOut: Counter;
  readonly #lookups: Counter<'trigger' | 'result'>;
  readonly #rebases: Counter<'changed'>;
  readonly #origins: ErrorOrigins;
  #load: ConversionLoad | undefined;

  constructor(registry: Registry, origins: ErrorOrigins) {
    this.#origins = origins;
    const registers = [registry];
    this.#conversions = new Counter({ name: `${METRIC_PREFIX}conversions_total`, help: 'Conversions run on this instance, by outcome (succeeded, failed).', labelNames: ['outcome'], registers });
    this.#duration = new Histogram({
      name: `${METRIC_PREFIX}conversion_duration_seconds`,
      help: 'Duration of conversions on this instance, from the droplet download to the recorded image, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    this.#failures = new Counter({
      name: `${METRIC_PREFIX}conversion_failures_total`,
      help: 'Failed conversions by reason: invalid_droplet, source (droplet download), blobstore, other.',
      labelNames: ['reason'],
      registers,
    });
    this.#bytesIn = new Counter({ name: `${METRIC_PREFIX}conversion_input_bytes_total`, help: 'Droplet bytes (compressed, as downloaded) read by conversions.', registers });
    this.#bytesOut = new Counter({ name: `${METRIC_PREFIX}conversion_output_bytes_total`, help: 'Droplet layer bytes (compressed) written by successful conversions.', registers });
    this.#lookups = new Counter({
      name: `${METRIC_PREFIX}image_cache_lookups_total`,
      help: 'Images asked for by a pull or the pre-warmer: hit when the image was ready, miss when it had to be converted (or waited for).',
      labelNames: ['trigger', 'result'],
      registers,
    });
    this.#rebases = new Counter({
      name: `${METRIC_PREFIX}rebases_total`,
      help: 'Images assembled from a droplet converted before on a new base (no download, no conversion), by what changed: a comma-separated subset of stack, foundation, lifecycle, or "none" when the droplet had no image on another base here (e.g. after garbage collection).',
      labelNames: ['changed'],
      registers,
    });
    const inFlight: Gauge = new Gauge({ name: `${METRIC_PREFIX}conversions_in_flight`, help: 'Conversions running on this instance.', registers, collect: () => inFlight.set(this.#load?.running ?? 0) });
    const queued: Gauge = new Gauge({
      name: `${METRIC_PREFIX}conversions_queued`,
      help: 'Conversions waiting on this instance for a free slot (CONVERSION_CONCURRENCY).',
      registers,
      collect: () => queued.set(this.#load?.waiting ?? 0),
    });
  }

  /** Where the in-flight and queued gauges read from (the instance's conversion slots). */
  observeLoad(load: ConversionLoad): void {
    this.#load = load;
  }

  /** Remembers the errors of a droplet download, so a failure it causes counts under `source`. */
  watchDroplet(stream: Readable): void {
    this.#origins.watch(stream, 'source');
  }

  succeeded(figures: { readonly seconds: number; readonly bytesIn: number; readonly bytesOut: number }): void {
    this.#conversions.inc({ outcome: 'succeeded' });
    this.#duration.observe({ outcome: 'succeeded' }, figures.seconds);
    this.#bytesIn.inc(figures.bytesIn);
    this.#bytesOut.inc(figures.bytesOut);
  }

  failed(error: unknown, figures: { readonly seconds: number; readonly bytesIn: number }): void {
    this.#conversions.inc({ outcome: 'failed' });
    this.#duration.observe({ outcome: 'failed' }, figures.seconds);
    this.#failures.inc({ reason: this.#reason(error) });
    this.#bytesIn.inc(figures.bytesIn);
  }

  /** An image rebased: `changed` lists the parts of the base that differ from the droplet's previous image. */
  rebased(changed: readonly ('stack' | 'foundation' | 'lifecycle')[]): void {
    this.#rebases.inc({ changed: changed.length > 0 ? changed.join(',') : 'none' });
  }

  lookup(trigger: ImageLookupTrigger, result: 'hit' | 'miss'): void {
    this.#lookups.inc({ trigger, result });
  }

  #reason(error: unknown): ConversionFailureReason {
    if (error instanceof InvalidDropletError) return 'invalid_droplet';
    const origin = this.#origins.originOf(error);
    if (origin) return origin;
    // The droplet sources report their failures before the download (CAPI, its blobstore) as one.
    if (error instanceof RegistryError) return 'source';
    return 'other';
  }
}
