/**
 * What the pull API asks of the registry: a manifest for `org/space/app:<tag or digest>`, the
 * blobs of that app's images, its tags. Manifests by tag are resolved through the droplet source
 * and converted on first request; a conversion runs once per image in this process, and the
 * manifest is persisted before it is served (clients fetch by digest right after).
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore, ByteRange } from '../blobstore/blob-store.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import {
  completeImage,
  failImage,
  findAppImageBlobSize,
  findImage,
  findReadyImageByManifestDigest,
  finishConversionRecord,
  startConversionRecord,
  startImageConversion,
  type ImageKey,
  type ImageState,
} from '../db/queries/images.ts';
import { isBlobRecorded, recordBlob, recordLayer } from '../db/queries/layers.ts';
import { InvalidDropletError, RegistryError } from '../errors/registry-error.ts';
import type { AppRef, DropletFacts, DropletSource } from '../sources/droplet-source.ts';
import { SingleFlight } from '../util/single-flight.ts';
import type { BaseLayers } from './base-layers.ts';
import { isSha256Digest } from './digest.ts';
import { assembleImage } from './assemble-image.ts';
import { OCI_CONFIG, OCI_MANIFEST } from './media-types.ts';

/** A repository name: `org/space/app`, or an app guid alone (the original spike's form). */
export type RepositoryRef = { readonly org: string; readonly space: string; readonly app: string } | { readonly appGuid: string };

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
  /** Names this process in conversion records. */
  readonly instance: string;
  readonly logger: Logger;
}

export class ImageService {
  readonly #options: ImageServiceOptions;
  readonly #conversions = new SingleFlight<ImageState>();

  constructor(options: ImageServiceOptions) {
    this.#options = options;
  }

  /** The manifest for a tag (`latest` or a droplet guid) or a manifest digest. */
  async getManifest(repository: RepositoryRef, reference: string): Promise<ManifestAnswer> {
    const app = await this.#findApp(repository);
    if (isSha256Digest(reference)) {
      const image = await findReadyImageByManifestDigest(this.#options.db, app.guid, reference);
      if (!image?.manifest) throw new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} unknown to repository ${repositoryName(repository)}`);
      return { bytes: image.manifest, digest: reference, mediaType: OCI_MANIFEST };
    }
    const droplet = reference === 'latest' ? await this.#options.source.currentDroplet(app) : await this.#options.source.findDroplet(app, reference);
    const image = await this.#imageOf(app, droplet);
    if (!image.manifest || !image.manifestDigest) throw new Error(`image ${image.id} is ready without a manifest`);
    return { bytes: image.manifest, digest: image.manifestDigest, mediaType: OCI_MANIFEST };
  }

  /** Size of a blob that belongs to an image of this repository; BLOB_UNKNOWN otherwise. */
  async statBlob(repository: RepositoryRef, digest: string): Promise<{ size: number }> {
    const app = await this.#findApp(repository);
    const size = await findAppImageBlobSize(this.#options.db, app.guid, digest);
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', `blob ${digest} unknown to repository ${repositoryName(repository)}`, { detail: { digest } });
    return { size };
  }

  /** Where to send the client for a blob (a signed URL), or `null` to stream it from here. */
  redirectUrl(digest: string): Promise<string | null> {
    return this.#options.blobs.redirectUrl(digest);
  }

  /** The blob's bytes (or a range); the caller has checked the blob with `statBlob`. */
  openBlob(digest: string, range?: ByteRange): Promise<Readable> {
    return this.#options.blobs.open(digest, { range });
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
    if ((await findImage(this.#options.db, key))?.state === 'ready') return 'ready';
    await this.#imageOf(app, droplet);
    return 'converted';
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

  /** Settles once conversions under way have ended (graceful shutdown). */
  drain(): Promise<void> {
    return this.#conversions.drain();
  }

  #findApp(repository: RepositoryRef): Promise<AppRef> {
    const { source } = this.#options;
    return 'appGuid' in repository ? source.findAppByGuid(repository.appGuid) : source.findApp(repository.org, repository.space, repository.app);
  }

  /** The ready image of a droplet, converting it first if needed. */
  async #imageOf(app: AppRef, droplet: DropletFacts): Promise<ImageState> {
    const stack = this.#checkConvertible(droplet);
    const key = this.#imageKey(droplet, stack);
    const known = await findImage(this.#options.db, key);
    if (known?.state === 'ready') return known;
    if (known?.state === 'failed' && !known.retryable) throw conversionFailed(droplet, known.error);
    return this.#conversions.run(JSON.stringify(key), () => this.#convert(app, droplet, stack, key));
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

  async #convert(app: AppRef, droplet: DropletFacts, stack: string, key: ImageKey): Promise<ImageState> {
    const { db, blobs, baseLayers, logger, instance } = this.#options;
    const started = performance.now();
    const imageId = await startImageConversion(db, key, { appGuid: app.guid, stack, instance });
    if (imageId === null) return (await findImage(db, key)) as ImageState;
    const conversionId = randomUUID();
    await startConversionRecord(db, { id: conversionId, imageId, instance });
    const log = logger.child({ conversion: conversionId, droplet: droplet.guid, app: app.guid });
    let bytesIn = 0;
    const written: string[] = [];
    try {
      const rootfs = baseLayers.rootfs.get(stack) as LayerDescriptor;
      const image = await assembleImage({
        app,
        droplet,
        stack,
        dropletStream: await this.#options.source.openDroplet(app, droplet),
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
      });
      log.info(
        { event: 'conversion.succeeded', ms: conversionMs, bytesIn, bytesOut: dropletLayer.size, uncompressed: dropletLayer.uncompressedSize, manifest: image.manifestDigest },
        'droplet converted',
      );
      return { id: imageId, state: 'ready', manifest: image.manifestBytes, manifestDigest: image.manifestDigest, error: null, retryable: true };
    } catch (error) {
      const retryable = !(error instanceof InvalidDropletError);
      const reason = (error as Error).message;
      log.warn({ event: 'conversion.failed', err: error, retryable }, `droplet conversion failed: ${reason}`);
      await this.#discardUnrecorded(written, log);
      await failImage(db, imageId, { error: reason, retryable }).catch((e: unknown) => log.error({ err: e }, 'could not record the failed conversion'));
      await finishConversionRecord(db, conversionId, { state: 'failed', error: reason, bytesIn }).catch(() => {});
      if (!retryable) throw conversionFailed(droplet, reason);
      if (error instanceof RegistryError) throw error;
      throw new RegistryError('UNAVAILABLE', `conversion of droplet ${droplet.guid} failed; try again`, { retryAfter: 5, cause: error });
    }
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

function conversionFailed(droplet: DropletFacts, reason: string | null): RegistryError {
  const message = `droplet ${droplet.guid} cannot be converted: ${reason ?? 'unknown reason'}`;
  return new RegistryError('MANIFEST_UNKNOWN', message, { detail: { droplet: droplet.guid, reason } });
}

/** The repository's name as clients spell it. */
export function repositoryName(repository: RepositoryRef): string {
  return 'appGuid' in repository ? repository.appGuid : `${repository.org}/${repository.space}/${repository.app}`;
}
