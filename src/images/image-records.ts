/**
 * The image rows as the conversion protocol writes them: an attempt claims an image under a lease,
 * renews it, and ends in exactly one of three records — landed (the image, its blobs and the
 * attempt in one transaction), failed, or handed back — each announced to the instances waiting
 * on it. One home for these writes, so the protocol's invariants (a landed image has every blob
 * row it references; an ended attempt always wakes its waiters) hold in one place.
 */
import type { Knex } from 'knex';
import { findDroplet, recordDroplet, type StoredDroplet } from '../db/queries/droplets.ts';
import {
  abandonConversionRecords,
  announceImageLanded,
  claimImageConversion,
  completeImage,
  failImage,
  findAppImageBlobSize,
  findImage,
  findLatestReadyBase,
  findReadyImageByManifestDigest,
  finishConversionRecord,
  releaseImageLease,
  renewImageLease,
  requestImageConversion,
  requestImageRepair,
  startConversionRecord,
  type ConversionRequestOutcome,
  type ImageKey,
  type ImageKeyBase,
  type ImageState,
  type RepairedImage,
} from '../db/queries/images.ts';
import { isBlobRecorded, recordBlob, recordLayer, recordUnreferencedBlob } from '../db/queries/layers.ts';
import { imageLayerList, type ImageLayers } from './image-config.ts';
import { OCI_CONFIG } from './media-types.ts';

export type { ConversionRequestOutcome, ImageKey, ImageKeyBase, ImageState, RepairedImage, StoredDroplet };

/** What a finished conversion or rebase produced, as recorded when it lands. */
export interface LandedImage {
  readonly manifestDigest: string;
  readonly manifest: Buffer;
  readonly config: { readonly digest: string; readonly size: number };
  readonly layers: ImageLayers;
  /** The droplet's layers when this attempt converted it (recorded for later rebases); absent for a rebase. */
  readonly converted?: StoredDroplet;
  readonly conversionMs: number;
  readonly bytesIn: number;
}

/** An attempt: the image it converts and the conversion record it writes. */
export interface ConversionAttempt {
  readonly imageId: number;
  readonly conversionId: string;
}

export class ImageRecords {
  readonly #db: Knex;
  /** Landing announcements name the schema, so instances of other registries sharing the database ignore them. */
  readonly #schema: string;

  constructor(options: { readonly db: Knex; readonly schema: string }) {
    this.#db = options.db;
    this.#schema = options.schema;
  }

  find(key: ImageKey): Promise<ImageState | undefined> {
    return findImage(this.#db, key);
  }

  findReadyByManifest(appGuid: string, manifestDigest: string): Promise<ImageState | undefined> {
    return findReadyImageByManifestDigest(this.#db, appGuid, manifestDigest);
  }

  /** The size of a blob of one of this app's ready images; undefined for any other blob. */
  blobSize(appGuid: string, digest: string): Promise<number | undefined> {
    return findAppImageBlobSize(this.#db, appGuid, digest);
  }

  /** What the droplet was converted into before, if it was. */
  findDroplet(dropletGuid: string): Promise<StoredDroplet | undefined> {
    return findDroplet(this.#db, dropletGuid);
  }

  /** The base of the droplet's most recently landed image other than `key`'s: what a rebase changes. */
  previousBase(key: ImageKey): Promise<ImageKeyBase | undefined> {
    return findLatestReadyBase(this.#db, key);
  }

  /** Records a stored blob nothing references yet as unreferenced since now: garbage collection removes it after the grace period unless an image comes to reference it. */
  leaveToCollection(blob: { digest: string; size: number; mediaType: string }): Promise<void> {
    return recordUnreferencedBlob(this.#db, blob);
  }

  /** Whether any row references the blob (a blob no row references may be deleted). */
  isBlobRecorded(digest: string): Promise<boolean> {
    return isBlobRecorded(this.#db, digest);
  }

  /** The image's id with a fresh lease for `instance`; null when it is ready or another live lease holds it. */
  claim(key: ImageKey, claim: { appGuid: string; stack: string; instance: string; leaseMs: number }): Promise<number | null> {
    return claimImageConversion(this.#db, key, claim);
  }

  /** False when `instance` holds the lease no longer (another instance took the conversion over). */
  renewLease(imageId: number, lease: { instance: string; leaseMs: number }): Promise<boolean> {
    return renewImageLease(this.#db, imageId, lease);
  }

  /** Opens the attempt record under a claimed lease, closing those of attempts that died with their instance. */
  async startAttempt(imageId: number, conversionId: string, instance: string): Promise<ConversionAttempt> {
    await abandonConversionRecords(this.#db, imageId);
    await startConversionRecord(this.#db, { id: conversionId, imageId, instance });
    return { imageId, conversionId };
  }

  /** The image is ready: the droplet's layers if converted now, config, manifest, blob references and the attempt, in one transaction. */
  async land(attempt: ConversionAttempt, image: LandedImage): Promise<void> {
    const layers = imageLayerList(image.layers);
    await this.#db.transaction(async (trx) => {
      if (image.converted) {
        for (const layer of image.converted.layers) await recordLayer(trx, layer, 'droplet');
        await recordDroplet(trx, image.converted);
      }
      await recordBlob(trx, { digest: image.config.digest, size: image.config.size, mediaType: OCI_CONFIG });
      await completeImage(trx, attempt.imageId, {
        manifestDigest: image.manifestDigest,
        manifest: image.manifest,
        configDigest: image.config.digest,
        blobDigests: [...layers.map((layer) => layer.digest), image.config.digest],
        conversionMs: image.conversionMs,
      });
      const bytesOut = image.converted ? image.converted.layers.reduce((sum, layer) => sum + layer.size, 0) : image.config.size;
      await finishConversionRecord(trx, attempt.conversionId, { state: 'succeeded', bytesIn: image.bytesIn, bytesOut });
      await announceImageLanded(trx, this.#schema, attempt.imageId);
    });
  }

  /**
   * The attempt failed: the image is marked failed unless another instance took it over or landed
   * it meanwhile; waiters are woken either way. Throws only when the image row cannot be written.
   */
  async fail(attempt: ConversionAttempt, failure: { error: string; retryable: boolean; instance: string; bytesIn: number }): Promise<void> {
    try {
      await failImage(this.#db, attempt.imageId, { error: failure.error, retryable: failure.retryable, instance: failure.instance });
    } finally {
      await finishConversionRecord(this.#db, attempt.conversionId, { state: 'failed', error: failure.error, bytesIn: failure.bytesIn }).catch(() => {});
      await announceImageLanded(this.#db, this.#schema, attempt.imageId).catch(() => {});
    }
  }

  /**
   * The attempt was cancelled because its instance is shutting down: no failure is recorded, the
   * lease is released and waiters are woken, so another instance takes it over at once. Throws only
   * when the lease cannot be released (it then runs out).
   */
  async handBack(attempt: ConversionAttempt, instance: string, bytesIn: number): Promise<void> {
    try {
      await releaseImageLease(this.#db, attempt.imageId, instance);
    } finally {
      await finishConversionRecord(this.#db, attempt.conversionId, { state: 'failed', error: 'handed back: its instance was shutting down', bytesIn }).catch(() => {});
      await announceImageLanded(this.#db, this.#schema, attempt.imageId).catch(() => {});
    }
  }

  /** Sends the ready images that reference a lost blob back to conversion (see `requestImageRepair`). */
  requestRepair(digest: string, reason: string): Promise<{ repaired: RepairedImage[]; dropletGuids: string[] }> {
    return requestImageRepair(this.#db, digest, reason);
  }

  /** An operator's "convert this image (again)": see `requestImageConversion`. */
  requestConversion(key: ImageKey, image: { appGuid: string; stack: string; force: boolean }): Promise<ConversionRequestOutcome> {
    return requestImageConversion(this.#db, key, image);
  }
}
