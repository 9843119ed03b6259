/**
 * What the pull API asks of the registry: a manifest for `org/space/app:<tag or digest>`, the
 * blobs of that app's images, its tags. Manifests by tag are resolved through the droplet source
 * and converted on first request (by the conversion coordinator, which runs each conversion once
 * across instances); the manifest is persisted before it is served, as clients fetch by digest
 * right after. Ready images are answered from memory (ready-image-cache.ts); whoever deletes
 * images tells this service (`forgetDroplet`), never the cache.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { BlobNotFoundError, type BlobStore, type ByteRange } from '../blobstore/blob-store.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { ConversionMetrics } from '../metrics/conversion-metrics.ts';
import type { AppRef, DropletFacts, DropletSource } from '../sources/droplet-source.ts';
import { findRepositoryApp, repositoryName, type RepositoryRef } from '../sources/repository-ref.ts';
import { baseLayerDigests, type BaseLayers } from './base-layers.ts';
import type { ConversionCoordinator } from './conversion-coordinator.ts';
import { conversionFailed, dropletOfAnotherApp } from './droplet-refusals.ts';
import { isSha256Digest } from './digest.ts';
import type { ConversionRequestOutcome, ImageRecords, ImageState } from './image-records.ts';
import { imageTarget } from './image-target.ts';
import { LostBlobs } from './lost-blobs.ts';
import { OCI_MANIFEST } from './media-types.ts';
import type { PullRecorder } from './pull-recorder.ts';
import { ReadyImageCache } from './ready-image-cache.ts';

export interface ManifestAnswer {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
}

export interface ImageServiceOptions {
  readonly records: ImageRecords;
  readonly conversions: ConversionCoordinator;
  readonly blobs: BlobStore;
  readonly source: DropletSource;
  readonly baseLayers: BaseLayers;
  /** A manifest request waits this long for a conversion, then answers 429 (the conversion goes on). */
  readonly manifestWaitMs: number;
  readonly logger: Logger;
  /** Counts manifest pulls and blob downloads (for garbage collection and the admin API); none: not counted. */
  readonly pulls?: PullRecorder;
  /** Image cache hits and misses for /metrics; none: not recorded. */
  readonly metrics?: ConversionMetrics;
  /** Ready images and blob sizes answered from memory; default: a fresh one. */
  readonly readyImages?: ReadyImageCache;
  /**
   * With a store that redirects clients (S3, WebDAV), ask it whether it has the blob before each
   * redirect (one stat per blob GET), so a lost blob is answered and repaired as with the
   * filesystem store instead of the client meeting the store's 404. Default: no.
   */
  readonly checkBeforeRedirect?: boolean;
}

/** Seconds a client whose manifest is still being converted is asked to wait before retrying. */
const STILL_CONVERTING_RETRY_AFTER = 1;

export class ImageService {
  readonly #options: ImageServiceOptions;
  readonly #readyImages: ReadyImageCache;
  readonly #lostBlobs: LostBlobs;

  constructor(options: ImageServiceOptions) {
    this.#options = options;
    this.#readyImages = options.readyImages ?? new ReadyImageCache();
    this.#lostBlobs = new LostBlobs(options.blobs);
  }

  /** The manifest for a tag (`latest` or a droplet guid) or a manifest digest. */
  async getManifest(repository: RepositoryRef, reference: string): Promise<ManifestAnswer> {
    const app = await findRepositoryApp(this.#options.source, repository);
    if (isSha256Digest(reference)) {
      const cached = this.#readyImages.imageByManifest(app.guid, reference);
      const image = cached ?? (await this.#options.records.findReadyByManifest(app.guid, reference));
      if (!image?.manifest) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown to repository ${repositoryName(repository)}`);
      if (!cached) this.#readyImages.rememberManifest(app.guid, image);
      this.#options.pulls?.manifestPulled(image.id);
      return { bytes: image.manifest, digest: reference, mediaType: OCI_MANIFEST };
    }
    const droplet = reference === 'latest' ? await this.#options.source.currentDroplet(app) : await this.#options.source.findDroplet(app, reference);
    const image = await this.#imageOf(app, droplet, this.#options.manifestWaitMs);
    if (!image.manifest || !image.manifestDigest) throw new Error(`image ${image.id} is ready without a manifest`);
    this.#options.pulls?.manifestPulled(image.id);
    return { bytes: image.manifest, digest: image.manifestDigest, mediaType: OCI_MANIFEST };
  }

  /** Size of a blob that belongs to an image of this repository; BLOB_UNKNOWN otherwise. */
  async statBlob(repository: RepositoryRef, digest: string): Promise<{ size: number }> {
    const app = await findRepositoryApp(this.#options.source, repository);
    const cached = this.#readyImages.blobSize(app.guid, digest);
    const size = cached ?? (await this.#options.records.blobSize(app.guid, digest));
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${repositoryName(repository)}`, { detail: { digest } });
    if (cached === undefined) this.#readyImages.rememberBlobSize(app.guid, digest, size);
    if (await this.#lostBlobs.isMissing(digest)) throw this.#blobMissing(digest);
    return { size };
  }

  /** Where to send the client for a blob (a signed URL), or `null` to stream it from here; asked once per blob GET, so the download is counted here. */
  async redirectUrl(digest: string): Promise<string | null> {
    this.#options.pulls?.blobPulled(digest);
    const url = await this.#options.blobs.redirectUrl(digest);
    if (url !== null && this.#options.checkBeforeRedirect && (await this.#options.blobs.stat(digest)) === null) throw await this.#blobLost(digest);
    return url;
  }

  /** The blob's bytes (or a range); the caller has checked the blob with `statBlob`. BLOB_UNKNOWN when the store has lost it. */
  async openBlob(digest: string, range?: ByteRange): Promise<Readable> {
    try {
      return await this.#options.blobs.open(digest, { range });
    } catch (error) {
      if (error instanceof BlobNotFoundError) throw await this.#blobLost(digest);
      throw error;
    }
  }

  /** Resolves the repository; NAME_UNKNOWN when there is no app behind it. */
  async checkRepository(repository: RepositoryRef): Promise<void> {
    await findRepositoryApp(this.#options.source, repository);
  }

  /** `latest` plus the guids of the app's STAGED droplets, sorted. */
  async listTags(repository: RepositoryRef): Promise<string[]> {
    const app = await findRepositoryApp(this.#options.source, repository);
    const droplets = await this.#options.source.listStagedDroplets(app);
    return ['latest', ...droplets.map((droplet) => droplet.guid)].sort();
  }

  /**
   * Converts a droplet ahead of its first pull (the pre-warmer). Resolves to `ready` when the image
   * was already there, `converted` when this call made it; rejects like a pull would (a droplet
   * that cannot become an image, an unavailable source).
   */
  async warmDroplet(appGuid: string, dropletGuid: string): Promise<'ready' | 'converted'> {
    const app = await this.#options.source.findAppByGuid(appGuid);
    const droplet = await this.#options.source.findDroplet(app, dropletGuid);
    const { key } = imageTarget(droplet, this.#options.baseLayers);
    if ((await this.#options.records.find(key))?.state === 'ready') {
      this.#options.metrics?.lookup('prewarm', 'hit');
      return 'ready';
    }
    await this.#imageOf(app, droplet);
    return 'converted';
  }

  /**
   * An operator's "convert this droplet now" (the admin API): a failed image gets a new attempt,
   * even one whose droplet was at fault; a ready one is converted again only with `force` (and is
   * not served until it lands again). Returns at once: the conversion runs in the background like
   * one a pull started (a pull joins it). MANIFEST_UNKNOWN when the droplet cannot become an image here.
   */
  async convertDropletNow(app: AppRef, droplet: DropletFacts, options: { force: boolean }): Promise<ConversionRequestOutcome> {
    const target = imageTarget(droplet, this.#options.baseLayers);
    const outcome = await this.#options.records.requestConversion(target.key, { appGuid: app.guid, stack: target.stack, force: options.force });
    if (outcome !== 'requested') return outcome;
    this.forgetDroplet(droplet.guid);
    this.#options.conversions.imageOf(app, droplet, target).catch((error: unknown) => {
      // Recorded on the image row (failed) when the conversion ran; a full queue leaves it pending for the next pull.
      this.#options.logger.warn({ event: 'conversion.request_failed', droplet: droplet.guid, err: error }, `requested conversion of droplet ${droplet.guid} failed: ${(error as Error).message}`);
    });
    return 'requested';
  }

  /** The droplet's images were deleted or sent back to conversion: this instance stops answering them from memory. */
  forgetDroplet(dropletGuid: string): void {
    this.#readyImages.evictDroplet(dropletGuid);
  }

  /** Graceful shutdown of the conversions under way (see `ConversionCoordinator.drain`). */
  drain(timeoutMs = Infinity): Promise<void> {
    return this.#options.conversions.drain(timeoutMs);
  }

  /**
   * The ready image of a droplet, converting it first if needed; with `waitMs`, TOOMANYREQUESTS
   * when it is not ready by then (the conversion goes on).
   */
  async #imageOf(app: AppRef, droplet: DropletFacts, waitMs?: number): Promise<ImageState> {
    const target = imageTarget(droplet, this.#options.baseLayers);
    const cached = this.#readyImages.image(target.key);
    const known = cached ?? (await this.#options.records.find(target.key));
    if (known && known.appGuid !== app.guid) throw dropletOfAnotherApp(droplet);
    const trigger = waitMs === undefined ? 'prewarm' : 'pull';
    if (known?.state === 'ready') {
      this.#options.metrics?.lookup(trigger, 'hit');
      if (!cached) this.#readyImages.rememberImage(target.key, app.guid, known);
      return known;
    }
    if (known?.state === 'failed' && !known.retryable) throw conversionFailed(droplet, known.error);
    this.#options.metrics?.lookup(trigger, 'miss');
    const flight = this.#options.conversions.imageOf(app, droplet, target).then((image) => {
      this.#readyImages.rememberImage(target.key, app.guid, image);
      return image;
    });
    if (waitMs === undefined) return flight;
    return withDeadline(flight, waitMs, () => {
      const message = `droplet ${droplet.guid} is still being converted into an image; retry the request to go on waiting`;
      return new RegistryError('TOOMANYREQUESTS', message, { retryAfter: STILL_CONVERTING_RETRY_AFTER, detail: { droplet: droplet.guid, reason: 'converting' } });
    });
  }

  /**
   * A blob the database lists is gone from the store. The images built with it go back to
   * conversion, which starts at once (a pull by tag joins it; one by digest finds the image again
   * once it lands), so the blob is written again; this instance's cache forgets them. A base layer
   * (a stack's rootfs, the lifecycle) is no conversion's to write: start-up (or `import-rootfs`)
   * imports it again, and /readyz names it meanwhile. Returns the client's answer.
   */
  async #blobLost(digest: string): Promise<RegistryError> {
    const { records, logger } = this.#options;
    this.#lostBlobs.add(digest);
    if (this.#isBaseLayer(digest)) {
      logger.error(
        { event: 'blob.lost', digest, baseLayer: true },
        `base layer ${digest} is missing from the blobstore: no image built on it can be pulled until it is imported again (restart the registry, or run droplet-registry import-rootfs)`,
      );
    } else {
      const { repaired, dropletGuids } = await records.requestRepair(digest, `blob ${digest} was missing from the blobstore; the image is being converted again`);
      for (const dropletGuid of dropletGuids) this.forgetDroplet(dropletGuid);
      logger.warn({ event: 'blob.lost', digest, images: repaired.map((image) => image.id) }, `blob ${digest} is missing from the blobstore: converting ${repaired.length} image(s) again`);
      for (const image of repaired) {
        this.warmDroplet(image.appGuid, image.dropletGuid).catch((error: unknown) => {
          // The image stays pending: the next pull of it converts it.
          logger.warn({ event: 'blob.repair_failed', digest, image: image.id, err: error }, `converting image ${image.id} again failed: ${(error as Error).message}`);
        });
      }
    }
    return this.#blobMissing(digest);
  }

  /** BLOB_UNKNOWN for a blob the database lists but the store has lost, saying what brings it back. */
  #blobMissing(digest: string): RegistryError {
    const remedy = this.#isBaseLayer(digest) ? 'the registry imports it again when it starts' : 'its image is being converted again: pull again in a moment';
    return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is missing from the blobstore; ${remedy}`, { detail: { digest } });
  }

  /** A stack's rootfs or the lifecycle: imported at start-up, never written by a conversion. */
  #isBaseLayer(digest: string): boolean {
    return baseLayerDigests(this.#options.baseLayers).includes(digest);
  }
}

/** The work's outcome, or `timeout()`'s error when it takes longer than `ms`; the work goes on either way. */
function withDeadline<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
