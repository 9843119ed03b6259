/**
 * Queries on `images`, `image_blobs` and `conversions`. An image is keyed by droplet guid +
 * rootfs digest + lifecycle digest, so a restage or a patched rootfs gives a new image.
 */
import type { Knex } from 'knex';

export interface ImageKey {
  readonly dropletGuid: string;
  readonly rootfsDigest: string;
  readonly lifecycleDigest: string;
}

export interface ImageState {
  readonly id: number;
  readonly state: 'converting' | 'ready' | 'failed';
  readonly manifestDigest: string | null;
  readonly manifest: Buffer | null;
  readonly error: string | null;
  /** A failure that a new attempt may cure (source or storage trouble), as opposed to a bad droplet. */
  readonly retryable: boolean;
}

type Db = Knex | Knex.Transaction;

function toImageState(row: Record<string, unknown>): ImageState {
  return {
    id: Number(row.id),
    state: row.state as ImageState['state'],
    manifestDigest: (row.manifest_digest as string | null) ?? null,
    manifest: row.manifest ? Buffer.from(row.manifest as Uint8Array) : null,
    error: (row.error as string | null) ?? null,
    retryable: row.retryable !== false,
  };
}

const IMAGE_COLUMNS = ['id', 'state', 'manifest_digest', 'manifest', 'error', 'retryable'];

export async function findImage(db: Db, key: ImageKey): Promise<ImageState | undefined> {
  const row = await db('images')
    .where({ droplet_guid: key.dropletGuid, rootfs_digest: key.rootfsDigest, lifecycle_digest: key.lifecycleDigest })
    .first(IMAGE_COLUMNS);
  return row ? toImageState(row) : undefined;
}

/** A ready image of this app with this manifest digest. */
export async function findReadyImageByManifestDigest(db: Db, appGuid: string, manifestDigest: string): Promise<ImageState | undefined> {
  const row = await db('images').where({ app_guid: appGuid, manifest_digest: manifestDigest, state: 'ready' }).first(IMAGE_COLUMNS);
  return row ? toImageState(row) : undefined;
}

/**
 * Marks the image as converting by `instance` (creating its row) and returns its id; `null` when
 * it is ready already (another instance finished it since the caller looked).
 */
export async function startImageConversion(
  db: Db,
  key: ImageKey,
  image: { appGuid: string; stack: string; instance: string },
): Promise<number | null> {
  const [row] = await db('images')
    .insert({
      droplet_guid: key.dropletGuid,
      rootfs_digest: key.rootfsDigest,
      lifecycle_digest: key.lifecycleDigest,
      app_guid: image.appGuid,
      stack: image.stack,
      state: 'converting',
      attempts: 1,
      instance: image.instance,
    })
    .onConflict(['droplet_guid', 'rootfs_digest', 'lifecycle_digest'])
    .merge({
      state: 'converting',
      attempts: db.raw('images.attempts + 1'),
      instance: image.instance,
      error: null,
      updated_at: db.fn.now(),
    })
    .where('images.state', '<>', 'ready')
    .returning('id');
  return row ? Number(row.id) : null;
}

/** Marks the image ready with its manifest and the blobs it references (config and layers, in order). */
export async function completeImage(
  db: Db,
  imageId: number,
  image: { manifestDigest: string; manifest: Buffer; configDigest: string; dropletLayerDigest: string; blobDigests: string[]; conversionMs: number },
): Promise<void> {
  await db('images').where({ id: imageId }).update({
    state: 'ready',
    manifest_digest: image.manifestDigest,
    manifest: image.manifest,
    config_digest: image.configDigest,
    droplet_layer_digest: image.dropletLayerDigest,
    error: null,
    retryable: true,
    converted_at: db.fn.now(),
    updated_at: db.fn.now(),
    conversion_ms: image.conversionMs,
  });
  // Another instance may have completed the same (reproducible) image a moment ago: same rows.
  await db('image_blobs')
    .insert(image.blobDigests.map((digest, position) => ({ image_id: imageId, digest, position })))
    .onConflict(['image_id', 'digest'])
    .ignore();
}

/** Records a failed conversion, unless the image became ready meanwhile (another attempt won). */
export async function failImage(db: Db, imageId: number, failure: { error: string; retryable: boolean }): Promise<void> {
  await db('images')
    .where({ id: imageId })
    .whereNot({ state: 'ready' })
    .update({ state: 'failed', error: failure.error, retryable: failure.retryable, updated_at: db.fn.now() });
}

/** The recorded size of `digest` when it is the config or a layer of a ready image of this app. */
export async function findAppImageBlobSize(db: Db, appGuid: string, digest: string): Promise<number | undefined> {
  const row = await db('image_blobs as ib')
    .join('images as i', 'i.id', 'ib.image_id')
    .join('blobs as b', 'b.digest', 'ib.digest')
    .where({ 'i.app_guid': appGuid, 'i.state': 'ready', 'ib.digest': digest })
    .first('b.size');
  return row ? Number(row.size) : undefined;
}

/** Opens an attempt record for an image conversion. */
export async function startConversionRecord(db: Db, record: { id: string; imageId: number; instance: string }): Promise<void> {
  await db('conversions').insert({ id: record.id, image_id: record.imageId, instance: record.instance, state: 'running' });
}

export async function finishConversionRecord(
  db: Db,
  id: string,
  outcome: { state: 'succeeded' | 'failed'; error?: string; bytesIn?: number; bytesOut?: number },
): Promise<void> {
  await db('conversions').where({ id }).update({
    state: outcome.state,
    error: outcome.error ?? null,
    bytes_in: outcome.bytesIn ?? null,
    bytes_out: outcome.bytesOut ?? null,
    finished_at: db.fn.now(),
  });
}
