/**
 * What a garbage collection did (or, in a dry run, would do): the CLI prints it, `POST /admin/gc`
 * answers it, the `gc.finished` log line sums it up. A dry run lists exactly what a real run at
 * the same moment would remove.
 */

/**
 * Why an image is removed:
 * - `droplet-deleted`: Cloud Controller (or the droplets folder) no longer has its droplet;
 * - `droplet-expired`: the droplet is still known but EXPIRED (its bits are gone; it cannot be pulled);
 * - `not-pulled`: a ready image not pulled within the retention (counted from its last pull, else its conversion);
 * - `failed`: a failed conversion older than the retention;
 * - `abandoned`: a conversion whose instance died (lease run out) longer ago than the retention;
 * - `over-budget`: a ready image evicted, least recently pulled first, because the blobs took the
 *   storage budget or more (its next pull converts it again).
 */
export type GcImageRemovalReason = 'droplet-deleted' | 'droplet-expired' | 'not-pulled' | 'failed' | 'abandoned' | 'over-budget';

/** An image removed (its row, its blob references and its conversion records). */
export interface GcRemovedImage {
  readonly imageId: number;
  readonly dropletGuid: string;
  readonly appGuid: string;
  readonly state: 'converting' | 'ready' | 'failed';
  /** `null` for images that never became ready. */
  readonly manifestDigest: string | null;
  readonly reason: GcImageRemovalReason;
}

/** A blob deleted from the blobstore (and its rows). */
export interface GcRemovedBlob {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

/** The storage budget as a run found it (STORAGE_BUDGET_BYTES). */
export interface GcStorageBudget {
  readonly budgetBytes: number;
  /** Bytes of every blob when the run started. */
  readonly usedBytes: number;
  /** At or over the budget: the run freed (or, dry, would free) space down to `targetBytes`, evicting images if need be. */
  readonly overBudget: boolean;
  /** 90 % of the budget. */
  readonly targetBytes: number;
  /** Blobs among `blobsRemoved` deleted before their grace period, to get under the budget. */
  readonly blobsRemovedEarly: number;
}

export interface GcReport {
  /** True: nothing was removed; the lists say what a real run would remove. */
  readonly dryRun: boolean;
  /** ISO 8601 time the run started. */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly imagesRemoved: readonly GcRemovedImage[];
  readonly blobsRemoved: readonly GcRemovedBlob[];
  /** Sum of the sizes of `blobsRemoved`. */
  readonly bytesFreed: number;
  /** Blobs found unreferenced for the first time by this run: they are removed once unreferenced for the grace period. */
  readonly blobsMarked: number;
  /** Blobs unreferenced (marked) but still within the grace period after this run. */
  readonly blobsPending: number;
  /**
   * Blobs past the grace period left for a later run because a conversion was in flight (it may
   * be about to reference one of them: content is reproducible).
   */
  readonly blobsDeferred: number;
  /** Droplets whose existence could not be checked (source unavailable): their images were kept. */
  readonly lookupFailures: number;
  /** Null without a storage budget. */
  readonly storage: GcStorageBudget | null;
}
