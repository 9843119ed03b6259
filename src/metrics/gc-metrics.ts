/**
 * Garbage collection results: runs by mode and outcome, and — for real runs — images removed by
 * reason, blobs removed, bytes freed, plus the blobs a run left waiting (grace period, or a
 * conversion in flight) and when the last run ended.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** What these metrics read of a collection's report (workers/gc-report.ts). */
export interface GcFigures {
  readonly dryRun: boolean;
  readonly imagesRemoved: ReadonlyArray<{ readonly reason: string }>;
  readonly blobsRemoved: readonly unknown[];
  readonly bytesFreed: number;
  readonly blobsPending: number;
  readonly blobsDeferred: number;
}

export class GcMetrics {
  readonly #runs: Counter<'mode' | 'outcome'>;
  readonly #images: Counter<'reason'>;
  readonly #blobs: Counter;
  readonly #bytes: Counter;
  readonly #pending: Gauge;
  readonly #lastRun: Gauge<'mode'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#runs = new Counter({ name: `${METRIC_PREFIX}gc_runs_total`, help: 'Garbage collections by mode (dry_run, real) and outcome (succeeded, failed).', labelNames: ['mode', 'outcome'], registers });
    this.#images = new Counter({ name: `${METRIC_PREFIX}gc_images_removed_total`, help: 'Images removed by real garbage collections, by reason.', labelNames: ['reason'], registers });
    this.#blobs = new Counter({ name: `${METRIC_PREFIX}gc_blobs_removed_total`, help: 'Blobs deleted from the blobstore by real garbage collections.', registers });
    this.#bytes = new Counter({ name: `${METRIC_PREFIX}gc_freed_bytes_total`, help: 'Bytes of the blobs deleted by real garbage collections.', registers });
    this.#pending = new Gauge({
      name: `${METRIC_PREFIX}gc_blobs_pending`,
      help: 'Unreferenced blobs the last garbage collection left for later (within the grace period, or deferred by a conversion in flight).',
      registers,
    });
    this.#lastRun = new Gauge({
      name: `${METRIC_PREFIX}gc_last_success_timestamp_seconds`,
      help: 'When the last successful garbage collection of each mode ended (Unix time).',
      labelNames: ['mode'],
      registers,
    });
  }

  /** `collect` that records each run it makes. */
  wrap<Report extends GcFigures>(collect: (options: { dryRun: boolean }) => Promise<Report>): (options: { dryRun: boolean }) => Promise<Report> {
    return async (options) => {
      try {
        const report = await collect(options);
        this.#record(report);
        return report;
      } catch (error) {
        this.#runs.inc({ mode: modeOf(options.dryRun), outcome: 'failed' });
        throw error;
      }
    };
  }

  #record(report: GcFigures): void {
    const mode = modeOf(report.dryRun);
    this.#runs.inc({ mode, outcome: 'succeeded' });
    this.#lastRun.set({ mode }, Date.now() / 1000);
    if (report.dryRun) return;
    for (const image of report.imagesRemoved) this.#images.inc({ reason: image.reason });
    this.#blobs.inc(report.blobsRemoved.length);
    this.#bytes.inc(report.bytesFreed);
    this.#pending.set(report.blobsPending + report.blobsDeferred);
  }
}

function modeOf(dryRun: boolean): 'dry_run' | 'real' {
  return dryRun ? 'dry_run' : 'real';
}
