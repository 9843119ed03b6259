/**
 * The storage budget: the bytes the registry's blobs take against the budget, read at each scrape
 * (from the budget's cached usage, a few seconds old at most), and the conversions refused because
 * the budget was used up. Images evicted for the budget are `gc_images_removed_total{reason="over-budget"}`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC_PREFIX } from './metric-prefix.ts';

/** What the gauges read: the budget and its usage (see images/storage-budget.ts). */
export interface StorageUsageSource {
  readonly budgetBytes: number;
  usage(): Promise<{ readonly usedBytes: number; readonly blobCount: number }>;
}

export class StorageMetrics {
  #source: StorageUsageSource | undefined;
  readonly #refused: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    // The budget caches its usage for a few seconds: both gauges share one read. A failed read leaves them as they were (the scrape still answers).
    const read = () => this.#source?.usage().catch(() => undefined);
    const used: Gauge = new Gauge({
      name: `${METRIC_PREFIX}storage_used_bytes`,
      help: "Bytes of the registry's blobs (every committed blob, unreferenced ones within the garbage collection grace period included).",
      registers,
      collect: async () => {
        const usage = await read();
        if (usage) used.set(usage.usedBytes);
      },
    });
    const blobs: Gauge = new Gauge({
      name: `${METRIC_PREFIX}storage_blobs`,
      help: "Number of the registry's blobs.",
      registers,
      collect: async () => {
        const usage = await read();
        if (usage) blobs.set(usage.blobCount);
      },
    });
    const budget: Gauge = new Gauge({
      name: `${METRIC_PREFIX}storage_budget_bytes`,
      help: 'The storage budget (STORAGE_BUDGET_BYTES); 0: none.',
      registers,
      collect: () => budget.set(this.#source?.budgetBytes ?? 0),
    });
    this.#refused = new Counter({
      name: `${METRIC_PREFIX}storage_conversions_refused_total`,
      help: 'Conversions refused (503) because the blobs took the storage budget or more.',
      registers,
    });
  }

  /** Where the gauges read from; without one they stay at zero. */
  observe(source: StorageUsageSource): void {
    this.#source = source;
  }

  refused(): void {
    this.#refused.inc();
  }
}
