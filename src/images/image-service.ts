/**
 * What the pull API asks of the registry: a manifest for `org/space/app:<tag or digest>`, the
 * blobs of that app's images, its tags. Manifests by tag are resolved through the droplet source
 * and converted on first request, and the manifest is persisted before it is served (clients
 * fetch by digest right after).
 *
 * @remarks
 * A conversion runs once across all instances sharing the database: the instance whose claim on
 * the image row wins holds a lease it renews while it converts; everyone else (other requests
 * here join one in-process flight per image) waits until the image lands, woken by
 * `ImageLandings`, and takes the conversion over when the lease runs out (its instance died).
 * The conversion belongs to no request: it goes on when the client hangs up or the request's
 * wait ends, and a retry joins it.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { BlobNotFoundError, type BlobStore, type ByteRange } from '../blobstore/blob-store.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import {
  abandonConversionRecords,
  announceImageLanded,
  claimImageConversion,
  completeImage,
  failImage,
  findAppImageBlobSize,
  findImage,
  findReadyImageByManifestDigest,
  finishConversionRecord,
  releaseImageLease,
  renewImageLease,
  requestImageRepair,
  startConversionRecord,
  type ImageKey,
  type ImageState,
} from '../db/queries/images.ts';
import { requestImageConversion, type ConversionRequestOutcome } from '../db/queries/admin-images.ts';
import { isBlobRecorded, recordBlob, recordLayer } from '../db/queries/layers.ts';
import { InvalidDropletError, RegistryError } from '../errors/registry-error.ts';
import type { AppRef, DropletFacts, DropletSource } from '../sources/droplet-source.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { BaseLayers } from './base-layers.ts';
import type { ConversionSlots } from './conversion-slots.ts';
import type { ImageLandings } from './image-landings.ts';
import type { PullRecorder } from './pull-recorder.ts';
import type { ConversionMetrics } from '../metrics/conversion-metrics.ts';
import { isSha256Digest } from './digest.ts';
import { assembleImage } from './assemble-image.ts';
import { OCI_CONFIG, OCI_MANIFEST } from './media-types.ts';
import { LostBlobs } from './lost-blobs.ts';
import { ReadyImageCache } from './ready-image-cache.ts';

/** A repository name: `org/space/app`, or an app guid alone (the original spike's form). */
export type RepositoryName = { readonly org: string; readonly space: string; readonly app: string } | { readonly appGuid: string };

/**
 * A repository as a request reaches it: its name and, when a registry token granted it, the app
 * that grant was decided for. Such a request is served from that app whatever the name resolves
 * to by now (org, space and app names change; guids do not).
 */
export type RepositoryRef = RepositoryName & { readonly grantedAppGuid?: string | undefined };

export interface ManifestAnswer {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly mediaType: string;
}

export interface ImageServiceOptions {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly source: DropletSource;
  readonly baseLayers: BaseLayers;
  readonly compressionLevel: number;
  readonly limits: { readonly maxUncompressedBytes: number; readonly maxEntries: number };
  /** Names this process in conversion records and leases. */
  readonly instance: string;
  /** Schema of the registry's tables: notifications of landed images name it. */
  readonly schema: string;
  readonly slots: ConversionSlots;
  readonly landings: ImageLandings;
  /** A conversion's lease lasts this long without a heartbeat; renewed every third of it. */
  readonly leaseMs: number;
  /** A manifest request waits this long for a conversion, then answers 429 (the conversion goes on). */
  readonly manifestWaitMs: number;
  readonly logger: Logger;
  /** Counts manifest pulls and blob downloads (for garbage collection and the admin API); none: not counted. */
  readonly pulls?: PullRecorder;
  /** Conversion figures and image cache hits for /metrics; none: not recorded. */
  readonly metrics?: ConversionMetrics;
  /** Ready images and blob sizes answered from memory (ready-image-cache.ts); default: a fresh one. */
  readonly readyImages?: ReadyImageCache;
  /**
   * With a store that redirects clients (S3, WebDAV), ask it whether it has the blob before each
   * redirect (one stat per blob GET), so a lost blob is answered and repaired as with the
   * filesystem store instead of the client meeting the store's 404. Default: no.
   */
  readonly checkBeforeRedirect?: boolean;
}

/** Longest a waiter sleeps between looks at the image row, when no notification wakes it. */
const MAX_POLL_MS = 2_000;
/** Seconds a client whose manifest is still being converted is asked to wait before retrying. */
const STILL_CONVERTING_RETRY_AFTER = 1;
/** How long shutdown waits for cancelled conversions to clean up after themselves. */
const HAND_BACK_GRACE_MS = 5_000;

export class ImageService {
  readonly #options: ImageServiceOptions;
  readonly #conversions = new SingleFlight<ImageState>();
  #stopping = false;
  /** Aborted when shutdown's time is up: conversions still running give their images back. */
  readonly #handBack = new AbortController();
  /** Warm pulls skip the database; whoever deletes images here evicts them (`evictDroplet`, `clear`). */
  readonly readyImages: ReadyImageCache;
  readonly #lostBlobs: LostBlobs;

  constructor(options: ImageServiceOptions) {
    this.#options = options;
    this.readyImages = options.readyImages ?? new ReadyImageCache();
    this.#lostBlobs = new LostBlobs(options.blobs);
  }

  /** The manifest for a tag (`latest` or a droplet guid) or a manifest digest. */
  async getManifest(repository: RepositoryRef, reference: string): Promise<ManifestAnswer> {
    const app = await this.#findApp(repository);
    if (isSha256Digest(reference)) {
      const cached = this.readyImages.imageByManifest(app.guid, reference);
      const image = cached ?? (await findReadyImageByManifestDigest(this.#options.db, app.guid, reference));
      if (!image?.manifest) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown to repository ${repositoryName(repository)}`);
      if (!cached) this.readyImages.rememberManifest(app.guid, image);
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
    const app = await this.#findApp(repository);
    const cached = this.readyImages.blobSize(app.guid, digest);
    const size = cached ?? (await findAppImageBlobSize(this.#options.db, app.guid, digest));
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${repositoryName(repository)}`, { detail: { digest } });
    if (cached === undefined) this.readyImages.rememberBlobSize(app.guid, digest, size);
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

  /**
   * A blob the database lists is gone from the store. The images built with it go back to
   * conversion, which starts at once (a pull by tag joins it; one by digest finds the image again
   * once it lands), so the blob is written again; this instance's cache forgets them. A base layer
   * (a stack's rootfs, the lifecycle) is no conversion's to write: start-up (or `import-rootfs`)
   * imports it again, and /readyz names it meanwhile. Returns the client's answer.
   */
  async #blobLost(digest: string): Promise<RegistryError> {
    const { db, logger } = this.#options;
    this.#lostBlobs.add(digest);
    if (this.#isBaseLayer(digest)) {
      logger.error(
        { event: 'blob.lost', digest, baseLayer: true },
        `base layer ${digest} is missing from the blobstore: no image built on it can be pulled until it is imported again (restart the registry, or run droplet-registry import-rootfs)`,
      );
    } else {
      const { repaired, dropletGuids } = await requestImageRepair(db, digest, `blob ${digest} was missing from the blobstore; the image is being converted again`);
      for (const dropletGuid of dropletGuids) this.readyImages.evictDroplet(dropletGuid);
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
    const { rootfs, lifecycle } = this.#options.baseLayers;
    return lifecycle.digest === digest || [...rootfs.values()].some((layer) => layer.digest === digest);
  }

  /**
   * Converts a droplet ahead of its first pull (the pre-warmer). Resolves to `ready` when the image
   * was already there, `converted` when this call made it; rejects like a pull would (a droplet
   * that cannot become an image, an unavailable source).
   */
  async warmDroplet(appGuid: string, dropletGuid: string): Promise<'ready' | 'converted'> {
    const app = await this.#options.source.findAppByGuid(appGuid);
    const droplet = await this.#options.source.findDroplet(app, dropletGuid);
    const key = this.#imageKey(droplet, this.#checkConvertible(droplet));
    if ((await findImage(this.#options.db, key))?.state === 'ready') {
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
    const stack = this.#checkConvertible(droplet);
    const key = this.#imageKey(droplet, stack);
    const outcome = await requestImageConversion(this.#options.db, key, { appGuid: app.guid, stack, force: options.force });
    if (outcome !== 'requested') return outcome;
    this.readyImages.evictDroplet(droplet.guid);
    this.#conversions.run(JSON.stringify(key), () => this.#obtain(app, droplet, stack, key)).catch((error: unknown) => {
      // Recorded on the image row (failed) when the conversion ran; a full queue leaves it pending for the next pull.
      this.#options.logger.warn({ event: 'conversion.request_failed', droplet: droplet.guid, err: error }, `requested conversion of droplet ${droplet.guid} failed: ${(error as Error).message}`);
    });
    return 'requested';
  }

  /** Resolves the repository; NAME_UNKNOWN when there is no app behind it. */
  async checkRepository(repository: RepositoryRef): Promise<void> {
    await this.#findApp(repository);
  }

  /** `latest` plus the guids of the app's STAGED droplets, sorted. */
  async listTags(repository: RepositoryRef): Promise<string[]> {
    const app = await this.#findApp(repository);
    const droplets = await this.#options.source.listStagedDroplets(app);
    return ['latest', ...droplets.map((droplet) => droplet.guid)].sort();
  }

  /**
   * Graceful shutdown: requests waiting on other instances give up, no conversion starts, and
   * those under way may finish within `timeoutMs`; then they are cancelled, their staged blobs
   * discarded and their leases released, so another instance takes them over at once.
   */
  async drain(timeoutMs = Infinity): Promise<void> {
    this.#stopping = true;
    await this.#options.landings.stop();
    const settled = this.#conversions.drain();
    if (await settlesWithin(settled, timeoutMs)) return;
    this.#handBack.abort(new Error('this registry instance is shutting down'));
    if (!(await settlesWithin(settled, HAND_BACK_GRACE_MS))) {
      this.#options.logger.warn({ event: 'conversion.hand_back_stuck', conversions: this.#conversions.size }, 'conversions did not stop when cancelled; their leases will run out');
    }
  }

  #findApp(repository: RepositoryRef): Promise<AppRef> {
    const { source } = this.#options;
    if (repository.grantedAppGuid !== undefined) return source.findAppByGuid(repository.grantedAppGuid);
    return 'appGuid' in repository ? source.findAppByGuid(repository.appGuid) : source.findApp(repository.org, repository.space, repository.app);
  }

  /**
   * The ready image of a droplet, converting it first if needed; with `waitMs`, TOOMANYREQUESTS
   * when it is not ready by then (the conversion goes on).
   */
  async #imageOf(app: AppRef, droplet: DropletFacts, waitMs?: number): Promise<ImageState> {
    const stack = this.#checkConvertible(droplet);
    const key = this.#imageKey(droplet, stack);
    const cached = this.readyImages.image(key);
    const known = cached ?? (await findImage(this.#options.db, key));
    const trigger = waitMs === undefined ? 'prewarm' : 'pull';
    if (known?.state === 'ready') {
      this.#options.metrics?.lookup(trigger, 'hit');
      if (!cached) this.readyImages.rememberImage(key, app.guid, known);
      return known;
    }
    if (known?.state === 'failed' && !known.retryable) throw conversionFailed(droplet, known.error);
    this.#options.metrics?.lookup(trigger, 'miss');
    const flight = this.#conversions.run(JSON.stringify(key), () => this.#obtain(app, droplet, stack, key)).then((image) => {
      this.readyImages.rememberImage(key, app.guid, image);
      return image;
    });
    if (waitMs === undefined) return flight;
    return withDeadline(flight, waitMs, () => {
      const message = `droplet ${droplet.guid} is still being converted into an image; retry the request to go on waiting`;
      return new RegistryError('TOOMANYREQUESTS', message, { retryAfter: STILL_CONVERTING_RETRY_AFTER, detail: { droplet: droplet.guid, reason: 'converting' } });
    });
  }

  /** Waits for the image while another instance converts it, converts it here when nobody does. */
  async #obtain(app: AppRef, droplet: DropletFacts, stack: string, key: ImageKey): Promise<ImageState> {
    const { db, landings, leaseMs, instance } = this.#options;
    let waited = false;
    for (;;) {
      const image = await findImage(db, key);
      if (image?.state === 'ready') return image;
      if (image?.state === 'failed' && (waited || !image.retryable)) {
        // The attempt waited for failed: retrying at once on every waiting instance would hammer a failing source.
        if (!image.retryable) throw conversionFailed(droplet, image.error);
        throw new RegistryError('UNAVAILABLE', `conversion of droplet ${droplet.guid} failed; try again`, { retryAfter: 5 });
      }
      if (this.#stopping) throw new RegistryError('UNAVAILABLE', 'this registry instance is shutting down; try again', { retryAfter: 1 });
      if (image?.state === 'converting' && image.leaseHeld) {
        waited = true;
        await landings.wait(image.id, Math.min(MAX_POLL_MS, leaseMs));
        continue;
      }
      const release = await this.#options.slots.acquire(app.guid);
      try {
        // The slot may have come free because shutdown cancelled the conversion holding it.
        if (this.#stopping) throw new RegistryError('UNAVAILABLE', 'this registry instance is shutting down; try again', { retryAfter: 1 });
        const imageId = await claimImageConversion(db, key, { appGuid: app.guid, stack, instance, leaseMs });
        // Null: another instance claimed it (or finished it) since we looked.
        if (imageId !== null) return await this.#convert(app, droplet, stack, imageId);
      } finally {
        release();
      }
    }
  }
  /** An image is one droplet on one rootfs with one lifecycle: a restage or a patched rootfs is a new image. */
  #imageKey(droplet: DropletFacts, stack: string): ImageKey {
    const rootfs = this.#options.baseLayers.rootfs.get(stack) as LayerDescriptor;
    return { dropletGuid: droplet.guid, rootfsDigest: rootfs.digest, lifecycleDigest: this.#options.baseLayers.lifecycle.digest };
  }

  /** The droplet's stack, once it is known that the droplet can become an image here. */
  #checkConvertible(droplet: DropletFacts): string {
    const why =
      droplet.lifecycleType !== 'buildpack'
        ? `droplet ${droplet.guid} has the ${droplet.lifecycleType} lifecycle; only buildpack droplets become images`
        : droplet.state !== 'STAGED'
          ? `droplet ${droplet.guid} is ${droplet.state}, not STAGED`
          : !droplet.stack
            ? `droplet ${droplet.guid} names no stack`
            : !this.#options.baseLayers.rootfs.has(droplet.stack)
              ? `stack ${droplet.stack} of droplet ${droplet.guid} has no rootfs configured in this registry`
              : undefined;
    if (why) throw new RegistryError('MANIFEST_UNKNOWN', why, { detail: { droplet: droplet.guid, reason: why } });
    return droplet.stack as string;
  }

  /** Converts the droplet under the lease this instance holds on `imageId`. */
  async #convert(app: AppRef, droplet: DropletFacts, stack: string, imageId: number): Promise<ImageState> {
    const { db, blobs, baseLayers, logger, instance, schema } = this.#options;
    const started = performance.now();
    const conversionId = randomUUID();
    await abandonConversionRecords(db, imageId);
    await startConversionRecord(db, { id: conversionId, imageId, instance });
    const log = logger.child({ conversion: conversionId, droplet: droplet.guid, app: app.guid });
    log.info({ event: 'conversion.started', image: imageId }, 'converting droplet');
    const heartbeat = this.#heartbeat(imageId, log);
    let bytesIn = 0;
    const written: string[] = [];
    const handBack = this.#handBack.signal;
    let stopReading = (): void => undefined;
    try {
      const rootfs = baseLayers.rootfs.get(stack) as LayerDescriptor;
      const dropletStream = await this.#options.source.openDroplet(app, droplet, { signal: handBack });
      this.#options.metrics?.watchDroplet(dropletStream);
      // Cancelling the download fails the conversion's pipeline, which cancels its staged write.
      stopReading = () => void dropletStream.destroy(handBack.reason as Error);
      if (handBack.aborted) stopReading();
      else handBack.addEventListener('abort', stopReading, { once: true });
      const image = await assembleImage({
        app,
        droplet,
        stack,
        dropletStream,
        rootfs,
        lifecycle: baseLayers.lifecycle,
        blobs,
        compressionLevel: this.#options.compressionLevel,
        limits: this.#options.limits,
        onProgress: (bytesRead) => {
          bytesIn = bytesRead;
        },
        onCommitted: (digest) => written.push(digest),
      });
      const dropletLayer = image.layers.droplet;
      const conversionMs = Math.round(performance.now() - started);
      await db.transaction(async (trx) => {
        await recordLayer(trx, dropletLayer, 'droplet');
        await recordBlob(trx, { digest: image.configDigest, size: image.configBytes.length, mediaType: OCI_CONFIG });
        await completeImage(trx, imageId, {
          manifestDigest: image.manifestDigest,
          manifest: image.manifestBytes,
          configDigest: image.configDigest,
          dropletLayerDigest: dropletLayer.digest,
          blobDigests: [image.configDigest, rootfs.digest, dropletLayer.digest, baseLayers.lifecycle.digest],
          conversionMs,
        });
        await finishConversionRecord(trx, conversionId, { state: 'succeeded', bytesIn, bytesOut: dropletLayer.size });
        await announceImageLanded(trx, schema, imageId);
      });
      log.info(
        { event: 'conversion.succeeded', ms: conversionMs, bytesIn, bytesOut: dropletLayer.size, uncompressed: dropletLayer.uncompressedSize, manifest: image.manifestDigest },
        'droplet converted',
      );
      this.#options.metrics?.succeeded({ seconds: conversionMs / 1000, bytesIn, bytesOut: dropletLayer.size });
      return { id: imageId, state: 'ready', manifest: image.manifestBytes, manifestDigest: image.manifestDigest, error: null, retryable: true, leaseHeld: false };
    } catch (error) {
      if (handBack.aborted) return await this.#giveBack(imageId, conversionId, { written, bytesIn, heartbeat, log });
      const retryable = !(error instanceof InvalidDropletError);
      const reason = (error as Error).message;
      log.warn({ event: 'conversion.failed', err: error, retryable }, `droplet conversion failed: ${reason}`);
      this.#options.metrics?.failed(error, { seconds: (performance.now() - started) / 1000, bytesIn });
      await this.#discardUnrecorded(written, log);
      await failImage(db, imageId, { error: reason, retryable, instance }).catch((e: unknown) => log.error({ err: e }, 'could not record the failed conversion'));
      await finishConversionRecord(db, conversionId, { state: 'failed', error: reason, bytesIn }).catch(() => {});
      await announceImageLanded(db, schema, imageId).catch(() => {});
      if (!retryable) throw conversionFailed(droplet, reason);
      if (error instanceof RegistryError) throw error;
      throw new RegistryError('UNAVAILABLE', `conversion of droplet ${droplet.guid} failed; try again`, { retryAfter: 5, cause: error });
    } finally {
      clearInterval(heartbeat);
      handBack.removeEventListener('abort', stopReading);
    }
  }

  /** A conversion cancelled by shutdown: nothing of it kept, its lease released, waiters elsewhere woken to take it over. */
  async #giveBack(imageId: number, conversionId: string, attempt: { written: string[]; bytesIn: number; heartbeat: NodeJS.Timeout; log: Logger }): Promise<never> {
    const { db, schema, instance } = this.#options;
    // No renewal may come after the release.
    clearInterval(attempt.heartbeat);
    await this.#discardUnrecorded(attempt.written, attempt.log);
    await releaseImageLease(db, imageId, instance).catch((e: unknown) => attempt.log.error({ err: e }, 'could not release the conversion lease; it will run out'));
    await finishConversionRecord(db, conversionId, { state: 'failed', error: 'handed back: its instance was shutting down', bytesIn: attempt.bytesIn }).catch(() => {});
    await announceImageLanded(db, schema, imageId).catch(() => {});
    attempt.log.info({ event: 'conversion.handed_back', image: imageId, bytesIn: attempt.bytesIn }, 'shutting down: conversion cancelled and handed back to the other instances');
    throw new RegistryError('UNAVAILABLE', 'this registry instance is shutting down; try again', { retryAfter: 1 });
  }

  /** Renews the lease every third of its length, so a missed renewal or two do not lose it. */
  #heartbeat(imageId: number, log: Logger): NodeJS.Timeout {
    const { db, instance, leaseMs } = this.#options;
    let warned = false;
    const timer = setInterval(() => {
      renewImageLease(db, imageId, { instance, leaseMs }).then(
        (held) => {
          if (held || warned) return;
          warned = true;
          // The work goes on: the image is reproducible, so whichever instance lands it first wins and the other's rows are the same.
          log.warn({ event: 'conversion.lease_lost', image: imageId }, 'another instance took this conversion over (the lease ran out)');
        },
        (error: unknown) => log.warn({ event: 'conversion.heartbeat_failed', err: error }, 'could not renew the conversion lease'),
      );
    }, Math.max(1, Math.floor(leaseMs / 3)));
    timer.unref();
    return timer;
  }

  /** Removes blobs this conversion committed that no row references (so nothing half-written stays). */
  async #discardUnrecorded(digests: string[], log: Logger): Promise<void> {
    for (const digest of digests) {
      try {
        if (!(await isBlobRecorded(this.#options.db, digest))) await this.#options.blobs.delete(digest);
      } catch (error) {
        log.error({ err: error, digest }, 'could not remove an unreferenced blob; garbage collection will');
      }
    }
  }
}

/** Whether `work` settles within `ms` (Infinity: waits for it). */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  if (ms === Infinity) {
    await work;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([work.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

/** The work's outcome, or `timeout()`'s error when it takes longer than `ms`; the work goes on either way. */
function withDeadline<T>(work: Promise<T>, ms: number, timeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeout()), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function conversionFailed(droplet: DropletFacts, reason: string | null): RegistryError {
  const message = `droplet ${droplet.guid} cannot be converted: ${reason ?? 'unknown reason'}`;
  return new RegistryError('MANIFEST_UNKNOWN', message, { detail: { droplet: droplet.guid, reason } });
}

/** The repository's name as clients spell it. */
export function repositoryName(repository: RepositoryName): string {
  return 'appGuid' in repository ? repository.appGuid : `${repository.org}/${repository.space}/${repository.app}`;
}
