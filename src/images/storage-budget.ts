/**
 * The storage budget (STORAGE_BUDGET_BYTES): the most bytes the registry's blobs may take in its
 * blobstore. A conversion that would start while they take the budget or more is refused (503
 * UNAVAILABLE with Retry-After, and a warning naming usage and budget) instead of filling the
 * disk; garbage collection evicts the least recently pulled images to get back under it
 * (workers/storage-eviction.ts).
 *
 * @remarks
 * Usage is the sum of `blobs`: every committed blob, unreferenced ones waiting out the grace
 * period included, since they still take the space. It is one aggregate query, cached per
 * instance for `USAGE_CACHE_MS` (concurrent readers share one query), so conversions, scrapes and
 * admin calls cost the database little; the budget may be overshot by what the conversions
 * started within that time write. This instance's garbage collection reads it again when it ends.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { measureBlobStorage } from '../db/queries/gc-storage.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { StorageMetrics } from '../metrics/storage-metrics.ts';

/** How long one reading of the usage is reused. */
const USAGE_CACHE_MS = 5_000;
/** A refused conversion's Retry-After, in seconds: space comes back when garbage collection runs. */
const REFUSAL_RETRY_AFTER_S = 60;

export interface StorageUsage {
  readonly usedBytes: number;
  readonly blobCount: number;
  /** 0: no budget. */
  readonly budgetBytes: number;
}

export interface StorageBudgetOptions {
  readonly db: Knex;
  /** 0: no budget (conversions are never refused). */
  readonly budgetBytes: number;
  readonly logger: Logger;
  /** Refused conversions for /metrics; none: not recorded. */
  readonly metrics?: StorageMetrics;
}

export class StorageBudget {
  readonly #options: StorageBudgetOptions;
  #reading: { readonly at: number; readonly usage: Promise<StorageUsage> } | undefined;

  constructor(options: StorageBudgetOptions) {
    this.#options = options;
  }

  get budgetBytes(): number {
    return this.#options.budgetBytes;
  }

  /** The blobs' bytes and number against the budget, at most `USAGE_CACHE_MS` old. */
  usage(): Promise<StorageUsage> {
    const now = performance.now();
    if (this.#reading && now - this.#reading.at < USAGE_CACHE_MS) return this.#reading.usage;
    const usage = measureBlobStorage(this.#options.db).then((measured) => ({ ...measured, budgetBytes: this.budgetBytes }));
    const reading = { at: now, usage };
    this.#reading = reading;
    // A failed reading is not reused.
    usage.catch(() => {
      if (this.#reading === reading) this.#reading = undefined;
    });
    return usage;
  }

  /** Drops the cached usage (garbage collection freed space): the next reading asks the database. */
  forget(): void {
    this.#reading = undefined;
  }

  /** Called right before a conversion downloads its droplet: UNAVAILABLE (503) while the blobs take the budget or more. */
  async assertRoomForConversion(): Promise<void> {
    const { budgetBytes, logger, metrics } = this.#options;
    if (budgetBytes === 0) return;
    const { usedBytes } = await this.usage();
    if (usedBytes < budgetBytes) return;
    metrics?.refused();
    logger.warn(
      { event: 'storage.budget_exceeded', usedBytes, budgetBytes },
      `conversion refused: the registry's blobs take ${usedBytes} bytes, the storage budget (STORAGE_BUDGET_BYTES) is ${budgetBytes}; garbage collection evicts the least recently pulled images to make room`,
    );
    throw new RegistryError('UNAVAILABLE', "the registry's storage budget is used up; conversions resume once garbage collection has made room, try again later", {
      retryAfter: REFUSAL_RETRY_AFTER_S,
    });
  }
}
