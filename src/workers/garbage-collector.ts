/**
 * Garbage collection, mark and sweep: removes images whose droplet is gone from the droplet
 * source or that nobody pulled within the retention, then deletes blobs that no image has
 * referenced for the grace period. A dry run answers exactly what a real run would remove.
 *
 * @remarks
 * Blobs are never deleted when first found unreferenced: the mark records that moment, and only
 * a later run past the grace period deletes them (in-process caches and clients in the middle of
 * a pull may still ask for them); a blob referenced again since its mark starts a new grace period
 * once unreferenced again. Each deletion is its own transaction: the blob's row is locked
 * (nobody can reference it until the transaction ends), the references are checked again, and
 * `images` is locked against conversions starting or landing; while any conversion is in flight
 * blobs are left for a later run, since a conversion may be about to record a blob that it found
 * already committed (content is reproducible). The file is deleted before the rows: a crash in
 * between leaves a marked row without a file, which no image references and the next run removes.
 * Blobs committed by a conversion and not recorded yet have no row: they are not the collector's
 * (a failed conversion removes its own; staged writes are swept separately). Files in the
 * blobstore without any row (a crash between a conversion's commit and its record) are not found:
 * the blobstore contract has no listing.
 *
 * With a storage budget, a run that finds the blobs taking the budget or more frees space down to
 * 90 % of it (workers/storage-eviction.ts): blobs no image references are deleted without waiting
 * out the grace period, then the least recently pulled ready images are evicted and their blobs
 * deleted at once, only as far as the budget needs. Clients in the middle of pulling an evicted
 * image lose its blobs; their next pull converts it again.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import {
  clearMarksOfReferencedBlobs,
  countBlobsToMark,
  countPendingBlobs,
  deleteBlobRows,
  isBlobReferenced,
  isConversionInFlight,
  listSweepableBlobs,
  lockSweepableBlob,
  markUnreferencedBlobs,
  unmarkBlob,
  type GcBlob,
} from '../db/queries/gc-blobs.ts';
import {
  listCollectableImages,
  listEvictableImages,
  listStaleImages,
  removeDropletsWithoutImages,
  removeEvictedImage,
  removeImage,
  type EvictableImage,
  type GcImage,
  type StaleReason,
} from '../db/queries/gc-images.ts';
import { loadStorageReferences, measureBlobStorage } from '../db/queries/gc-storage.ts';
import type { DropletSource } from '../sources/droplet-source.ts';
import { forEachBounded } from './for-each-bounded.ts';
import type { GcImageRemovalReason, GcRemovedBlob, GcRemovedImage, GcReport, GcStorageBudget } from './gc-report.ts';
import { EVICTION_TARGET, planEviction } from './storage-eviction.ts';

/** Droplet lookups under way at once, so a collection never floods Cloud Controller. */
const LOOKUP_CONCURRENCY = 4;

export interface GarbageCollectorOptions {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly source: Pick<DropletSource, 'lookupDroplet'>;
  /** Blobs always kept: the base layers (rootfs of each stack, lifecycle) of the running configuration. */
  readonly keepDigests: readonly string[];
  /** Images not pulled (failed, abandoned) for this many days are removed; 0: never for age. */
  readonly imageRetentionDays: number;
  /** Blobs unreferenced for this long are deleted. */
  readonly blobGraceMs: number;
  readonly logger: Logger;
  /** Told of each image removed, so this process's caches forget it at once (other instances' expire). */
  readonly onImageRemoved?: (image: GcRemovedImage) => void;
  /** The storage budget (images/storage-budget.ts); none or 0 bytes: no budget. Told to read usage again after a real run. */
  readonly storageBudget?: { readonly budgetBytes: number; forget(): void };
}

/** What a run frees for the storage budget: images to evict and blobs to delete before their grace period. */
interface BudgetPlan {
  readonly storage: Omit<GcStorageBudget, 'blobsRemovedEarly'>;
  readonly evictions: readonly EvictableImage[];
  readonly early: readonly GcBlob[];
}

/** A blob the sweep deletes: past the grace period, or (`graceMs` null) early, for the storage budget. */
interface SweepCandidate {
  readonly blob: GcBlob;
  readonly graceMs: number | null;
}

export class GarbageCollector {
  readonly #options: GarbageCollectorOptions;

  constructor(options: GarbageCollectorOptions) {
    this.#options = options;
  }

  /** One collection; rejects when the database fails (what was removed until then stays removed, and is logged). */
  async collect(options: { dryRun: boolean }): Promise<GcReport> {
    const { dryRun } = options;
    const { db, keepDigests, blobGraceMs, logger } = this.#options;
    const startedAt = new Date();
    const started = performance.now();
    const { planned, lookupFailures } = await this.#planImageRemovals();
    const budget = await this.#planForBudget(planned);
    const evicted = budget?.evictions.map((image) => removal(image, 'over-budget')) ?? [];
    const early = budget?.early ?? [];
    let imagesRemoved: GcRemovedImage[];
    let blobsMarked: number;
    let blobsRemoved: GcRemovedBlob[];
    let blobsDeferred: number;
    let blobsPending: number;
    let blobsRemovedEarly: number;
    if (dryRun) {
      // Counted as they will be once the planned images are gone.
      const scope = { keep: keepDigests, excludedImageIds: [...planned, ...evicted].map((image) => image.imageId) };
      imagesRemoved = [...planned, ...evicted];
      blobsMarked = await countBlobsToMark(db, scope);
      const sweepable = await listSweepableBlobs(db, keepDigests, blobGraceMs);
      const deferred = sweepable.length + early.length > 0 && (await isConversionInFlight(db, blobGraceMs));
      blobsRemoved = deferred ? [] : [...sweepable, ...early];
      blobsDeferred = deferred ? sweepable.length : 0;
      blobsRemovedEarly = deferred ? 0 : early.length;
      // Blobs deleted early are no longer pending once the real run has deleted them.
      blobsPending = (await countPendingBlobs(db, scope, blobGraceMs)) - blobsRemovedEarly;
    } else {
      // Blobs referenced again since they were marked start a new grace period, before their images go.
      await clearMarksOfReferencedBlobs(db, keepDigests);
      imagesRemoved = await this.#removeImages([...planned, ...evicted], new Map(budget?.evictions.map((image) => [image.id, image])));
      await removeDropletsWithoutImages(db);
      blobsMarked = await markUnreferencedBlobs(db, keepDigests);
      const sweepable = await listSweepableBlobs(db, keepDigests, blobGraceMs);
      const pastGrace = new Set(sweepable.map((blob) => blob.digest));
      const sweep = await this.#sweep([
        ...sweepable.map((blob) => ({ blob, graceMs: blobGraceMs })),
        ...early.filter((blob) => !pastGrace.has(blob.digest)).map((blob) => ({ blob, graceMs: null })),
      ]);
      blobsRemoved = sweep.removed;
      blobsDeferred = sweep.deferred;
      blobsRemovedEarly = sweep.removedEarly;
      blobsPending = await countPendingBlobs(db, { keep: keepDigests }, blobGraceMs);
      this.#options.storageBudget?.forget();
    }
    const report: GcReport = {
      dryRun,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      imagesRemoved,
      blobsRemoved,
      bytesFreed: blobsRemoved.reduce((sum, blob) => sum + blob.size, 0),
      blobsMarked,
      blobsPending,
      blobsDeferred,
      lookupFailures,
      storage: budget ? { ...budget.storage, blobsRemovedEarly } : null,
    };
    logger.info(
      {
        event: 'gc.finished',
        dryRun,
        imagesRemoved: report.imagesRemoved.length,
        imagesEvicted: evicted.length,
        blobsRemoved: report.blobsRemoved.length,
        bytesFreed: report.bytesFreed,
        blobsMarked,
        blobsPending,
        blobsDeferred,
        lookupFailures,
        ...(report.storage ? { usedBytes: report.storage.usedBytes, budgetBytes: report.storage.budgetBytes, blobsRemovedEarly } : {}),
        ms: report.durationMs,
      },
      `garbage collection${dryRun ? ' (dry run)' : ''}: ${report.imagesRemoved.length} images and ${report.blobsRemoved.length} blobs (${report.bytesFreed} bytes) ${dryRun ? 'to remove' : 'removed'}`,
    );
    return report;
  }

  /**
   * With a storage budget, how the run gets under it: null without a budget; nothing to evict or
   * delete early while the blobs take less than the budget (one aggregate query then).
   */
  async #planForBudget(planned: readonly GcRemovedImage[]): Promise<BudgetPlan | null> {
    const { db, keepDigests, blobGraceMs, logger } = this.#options;
    const budgetBytes = this.#options.storageBudget?.budgetBytes ?? 0;
    if (budgetBytes === 0) return null;
    const targetBytes = Math.floor(budgetBytes * EVICTION_TARGET);
    const { usedBytes } = await measureBlobStorage(db);
    if (usedBytes < budgetBytes) return { storage: { budgetBytes, usedBytes, overBudget: false, targetBytes }, evictions: [], early: [] };

    const references = await loadStorageReferences(db);
    const evictable = await listEvictableImages(db);
    const sweepable = await listSweepableBlobs(db, keepDigests, blobGraceMs);
    const plan = planEviction({
      budgetBytes,
      blobs: references.blobs,
      images: references.images,
      droplets: references.droplets,
      keep: keepDigests,
      removing: new Set(planned.map((image) => image.imageId)),
      sweepable: new Set(sweepable.map((blob) => blob.digest)),
      candidates: evictable.map((image) => image.id),
    });
    const byId = new Map(evictable.map((image) => [image.id, image]));
    const byDigest = new Map(references.blobs.map((blob) => [blob.digest, blob]));
    const evictions = plan.evict.map((id) => byId.get(id) as EvictableImage);
    const early = plan.deleteEarly.map((digest) => byDigest.get(digest) as GcBlob);
    logger.warn(
      { event: 'gc.over_budget', usedBytes: plan.usedBytes, budgetBytes, targetBytes, imagesToEvict: evictions.length, blobsToDeleteEarly: early.length, projectedBytes: plan.projectedBytes },
      `the registry's blobs take ${plan.usedBytes} bytes, at or over the storage budget of ${budgetBytes}: evicting ${evictions.length} least recently pulled images and deleting ${early.length} blobs without their grace period, to get to ${targetBytes}`,
    );
    return { storage: { budgetBytes, usedBytes: plan.usedBytes, overBudget: true, targetBytes }, evictions, early };
  }

  /** Images to remove and why: stale by age first, then those whose droplet the source no longer has. */
  async #planImageRemovals(): Promise<{ planned: GcRemovedImage[]; lookupFailures: number }> {
    const { db, source, imageRetentionDays, logger } = this.#options;
    const planned = new Map<number, GcRemovedImage>();
    if (imageRetentionDays > 0) {
      for (const image of await listStaleImages(db, imageRetentionDays)) planned.set(image.id, removal(image, image.reason));
    }
    const byDroplet = new Map<string, GcImage[]>();
    for (const image of await listCollectableImages(db)) {
      if (planned.has(image.id)) continue;
      byDroplet.set(image.dropletGuid, [...(byDroplet.get(image.dropletGuid) ?? []), image]);
    }
    let lookupFailures = 0;
    await forEachBounded(
      [...byDroplet],
      LOOKUP_CONCURRENCY,
      async ([dropletGuid, images]) => {
        let reason: GcImageRemovalReason | undefined;
        try {
          const found = await source.lookupDroplet(dropletGuid);
          reason = !found ? 'droplet-deleted' : found.droplet.state === 'EXPIRED' ? 'droplet-expired' : undefined;
        } catch (error) {
          lookupFailures += 1;
          logger.warn({ event: 'gc.lookup_failed', droplet: dropletGuid, err: error }, `could not look droplet ${dropletGuid} up (${(error as Error).message}); its images are kept`);
          return;
        }
        if (reason) for (const image of images) planned.set(image.id, removal(image, reason));
      },
      () => false,
    );
    return { planned: [...planned.values()].sort((a, b) => a.imageId - b.imageId), lookupFailures };
  }

  /** Removes the planned images whose reason still holds (a pull or a conversion may have come meanwhile). */
  async #removeImages(planned: readonly GcRemovedImage[], evictions: ReadonlyMap<number, EvictableImage>): Promise<GcRemovedImage[]> {
    const { db, imageRetentionDays, logger } = this.#options;
    const removed: GcRemovedImage[] = [];
    for (const image of planned) {
      const evicted = evictions.get(image.imageId);
      const staleness = isStaleReason(image.reason) ? { reason: image.reason, retentionDays: imageRetentionDays } : null;
      if (!(await (evicted ? removeEvictedImage(db, evicted) : removeImage(db, image.imageId, staleness)))) continue;
      removed.push(image);
      this.#options.onImageRemoved?.(image);
      logger.info(
        { event: 'gc.image_removed', image: image.imageId, droplet: image.dropletGuid, app: image.appGuid, reason: image.reason },
        `removed the image of droplet ${image.dropletGuid} (${image.reason})`,
      );
    }
    return removed;
  }

  /** Deletes each blob that is still unreferenced (past the grace period, or marked at all for an early one), one transaction each. */
  async #sweep(candidates: readonly SweepCandidate[]): Promise<{ removed: GcRemovedBlob[]; deferred: number; removedEarly: number }> {
    const { db, blobs, keepDigests, logger } = this.#options;
    const removed: GcRemovedBlob[] = [];
    let removedEarly = 0;
    let deferred = 0;
    for (const [index, { blob, graceMs }] of candidates.entries()) {
      const outcome = await db.transaction(async (trx) => {
        if (!(await lockSweepableBlob(trx, blob.digest, graceMs))) return 'gone';
        if (await isBlobReferenced(trx, blob.digest, keepDigests)) {
          await unmarkBlob(trx, blob.digest);
          return 'referenced';
        }
        if (await isConversionInFlight(trx, this.#options.blobGraceMs)) return 'deferred';
        // The file first: if the rows went first, a crash in between would leave a file that nothing finds.
        await blobs.delete(blob.digest);
        await deleteBlobRows(trx, blob.digest);
        return 'removed';
      });
      if (outcome === 'removed') {
        removed.push(blob);
        if (graceMs === null) removedEarly += 1;
        logger.debug({ event: 'gc.blob_removed', digest: blob.digest, size: blob.size, early: graceMs === null }, `removed blob ${blob.digest}`);
      } else if (outcome === 'deferred') {
        // A conversion holds up every blob of this run alike: leave the rest to the next run (blobs deleted early stay pending).
        deferred = candidates.slice(index).filter((candidate) => candidate.graceMs !== null).length;
        break;
      }
    }
    return { removed, deferred, removedEarly };
  }
}

function removal(image: GcImage, reason: GcImageRemovalReason): GcRemovedImage {
  return { imageId: image.id, dropletGuid: image.dropletGuid, appGuid: image.appGuid, state: image.state, manifestDigest: image.manifestDigest, reason };
}

function isStaleReason(reason: GcImageRemovalReason): reason is StaleReason {
  return reason === 'not-pulled' || reason === 'failed' || reason === 'abandoned';
}
