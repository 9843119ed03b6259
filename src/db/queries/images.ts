/**
 * Queries on `images`, `image_blobs` and `conversions`. An image is keyed by droplet guid and its
 * base (stack, foundation and lifecycle digests), so a restage or a new base gives a new image.
 */
import type { Knex } from 'knex';
import { forgetDroplet } from './droplets.ts';

export interface ImageKey {
  readonly dropletGuid: string;
  readonly stackDigest: string;
  /** '' when the stack is used without a foundation layer. */
  readonly foundationDigest: string;
  readonly lifecycleDigest: string;
}

/** The key's columns: the unique key `images_droplet_base_key`. */
const KEY_COLUMNS = ['droplet_guid', 'stack_digest', 'foundation_digest', 'lifecycle_digest'];

function keyColumns(key: ImageKey): Record<string, string> {
  return { droplet_guid: key.dropletGuid, stack_digest: key.stackDigest, foundation_digest: key.foundationDigest, lifecycle_digest: key.lifecycleDigest };
}

export interface ImageState {
  readonly id: number;
  /** The app whose droplet it is. */
  readonly appGuid: string;
  readonly state: 'converting' | 'ready' | 'failed';
  readonly manifestDigest: string | null;
  readonly manifest: Buffer | null;
  readonly error: string | null;
  /** A failure that a new attempt may cure (source or storage trouble), as opposed to a bad droplet. */
  readonly retryable: boolean;
  /** Converting under a lease that has not run out: its instance is (presumably) still at work. */
  readonly leaseHeld: boolean;
}

type Db = Knex | Knex.Transaction;

function toImageState(row: Record<string, unknown>): ImageState {
  return {
    id: Number(row.id),
    appGuid: row.app_guid as string,
    state: row.state as ImageState['state'],
    manifestDigest: (row.manifest_digest as string | null) ?? null,
    manifest: row.manifest ? Buffer.from(row.manifest as Uint8Array) : null,
    error: (row.error as string | null) ?? null,
    retryable: row.retryable !== false,
    leaseHeld: row.lease_held === true,
  };
}

const IMAGE_COLUMNS = ['id', 'app_guid', 'state', 'manifest_digest', 'manifest', 'error', 'retryable'];

/** Compared with the database's clock, never this process's: instances' clocks may differ. */
function imageColumns(db: Db): Array<string | Knex.Raw> {
  return [...IMAGE_COLUMNS, db.raw(`coalesce(lease_expires_at > now(), false) as lease_held`)];
}

export async function findImage(db: Db, key: ImageKey): Promise<ImageState | undefined> {
  const row = await db('images')
    .where(keyColumns(key))
    .first(imageColumns(db));
  return row ? toImageState(row) : undefined;
}

/** An image's base: its key without the droplet. */
export type ImageKeyBase = Omit<ImageKey, 'dropletGuid'>;

/** The base of the droplet's most recently converted ready image other than `key`'s. */
export async function findLatestReadyBase(db: Db, key: ImageKey): Promise<ImageKeyBase | undefined> {
  const row = await db('images')
    .where({ droplet_guid: key.dropletGuid, state: 'ready' })
    .whereRaw('not (stack_digest = ? and foundation_digest = ? and lifecycle_digest = ?)', [key.stackDigest, key.foundationDigest, key.lifecycleDigest])
    .orderBy('converted_at', 'desc')
    .first('stack_digest', 'foundation_digest', 'lifecycle_digest');
  return row ? { stackDigest: row.stack_digest, foundationDigest: row.foundation_digest, lifecycleDigest: row.lifecycle_digest } : undefined;
}

/** A ready image of this app with this manifest digest. */
export async function findReadyImageByManifestDigest(db: Db, appGuid: string, manifestDigest: string): Promise<ImageState | undefined> {
  const row = await db('images').where({ app_guid: appGuid, manifest_digest: manifestDigest, state: 'ready' }).first(IMAGE_COLUMNS);
  return row ? toImageState(row) : undefined;
}

/** Postgres channel on which a finished conversion (ready or failed) is announced; the payload is `<schema>/<image id>`. */
export const IMAGE_LANDED_CHANNEL = 'droplet_registry_image_landed';

/**
 * Takes the conversion lease of the image for `instance` (creating its row) and returns the image
 * id; `null` when the image is ready, or another instance holds a lease that has not run out.
 * One atomic statement, so of several instances trying at once exactly one gets the id.
 */
export async function claimImageConversion(
  db: Db,
  key: ImageKey,
  image: { appGuid: string; stack: string; instance: string; leaseMs: number },
): Promise<number | null> {
  const leaseExpiresAt = db.raw(`now() + ? * interval '1 millisecond'`, [image.leaseMs]);
  const [row] = await db('images')
    .insert({
      ...keyColumns(key),
      app_guid: image.appGuid,
      stack: image.stack,
      state: 'converting',
      attempts: 1,
      instance: image.instance,
      lease_expires_at: leaseExpiresAt,
    })
    .onConflict(KEY_COLUMNS)
    .merge({
      state: 'converting',
      attempts: db.raw('images.attempts + 1'),
      instance: image.instance,
      lease_expires_at: leaseExpiresAt,
      error: null,
      updated_at: db.fn.now(),
    })
    .where('images.state', '<>', 'ready')
    .where((q) => q.whereNull('images.lease_expires_at').orWhere('images.lease_expires_at', '<', db.fn.now()))
    .returning('id');
  return row ? Number(row.id) : null;
}

/**
 * Extends the lease `instance` holds on a converting image; false when it holds it no longer
 * (it ran out and another instance took the conversion over).
 */
export async function renewImageLease(db: Db, imageId: number, lease: { instance: string; leaseMs: number }): Promise<boolean> {
  const rows = await db('images')
    .where({ id: imageId, instance: lease.instance, state: 'converting' })
    .update({ lease_expires_at: db.raw(`now() + ? * interval '1 millisecond'`, [lease.leaseMs]) }, ['id']);
  return rows.length > 0;
}

/** Tells the instances listening on `IMAGE_LANDED_CHANNEL` that the image's conversion ended (sent on commit). */
export async function announceImageLanded(db: Db, schema: string, imageId: number): Promise<void> {
  await db.raw('select pg_notify(?, ?)', [IMAGE_LANDED_CHANNEL, `${schema}/${imageId}`]);
}

/** Marks the image ready with its manifest and the blobs it references (config and layers, in order). */
export async function completeImage(
  db: Db,
  imageId: number,
  image: { manifestDigest: string; manifest: Buffer; configDigest: string; blobDigests: string[]; conversionMs: number },
): Promise<void> {
  await db('images').where({ id: imageId }).update({
    state: 'ready',
    lease_expires_at: null,
    manifest_digest: image.manifestDigest,
    manifest: image.manifest,
    config_digest: image.configDigest,
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

/**
 * Records a failed conversion, unless the image became ready meanwhile (another attempt won) or,
 * given `instance`, another instance has taken the conversion over (its attempt may still succeed).
 */
export async function failImage(db: Db, imageId: number, failure: { error: string; retryable: boolean; instance?: string }): Promise<void> {
  await db('images')
    .where({ id: imageId, ...(failure.instance === undefined ? {} : { instance: failure.instance }) })
    .whereNot({ state: 'ready' })
    .update({ state: 'failed', lease_expires_at: null, error: failure.error, retryable: failure.retryable, updated_at: db.fn.now() });
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

/** An image sent back to conversion by `requestImageRepair`. */
export interface RepairedImage {
  readonly id: number;
  readonly appGuid: string;
  readonly dropletGuid: string;
}

/**
 * Sends the ready images that reference `digest` back to conversion because the blob is gone from
 * the blobstore: pending (converting without a lease, as an operator's "convert again" leaves
 * them), with `reason` in `error` for the admin API. No pull is served from them meanwhile, and the
 * next conversion of each writes its droplet layer and config anew. Returns the images sent back,
 * and the droplets of every image that references the blob (ready or not), whose cached answers
 * are stale.
 */
export async function requestImageRepair(db: Knex, digest: string, reason: string): Promise<{ repaired: RepairedImage[]; dropletGuids: string[] }> {
  const referencing = () => db('image_blobs').select('image_id').where({ digest });
  const repaired: Array<Record<string, unknown>> = await db('images')
    .whereIn('id', referencing())
    .where({ state: 'ready' })
    .update({ state: 'converting', lease_expires_at: null, error: reason, updated_at: db.fn.now() }, ['id', 'app_guid', 'droplet_guid']);
  const droplets: Array<{ droplet_guid: string }> = await db('images').whereIn('id', referencing()).distinct('droplet_guid');
  return {
    repaired: repaired.map((row) => ({ id: Number(row.id), appGuid: row.app_guid as string, dropletGuid: row.droplet_guid as string })),
    dropletGuids: droplets.map((row) => row.droplet_guid),
  };
}

/** Closes the records of attempts that died with their instance (their lease ran out; this attempt takes over). */
export async function abandonConversionRecords(db: Db, imageId: number): Promise<void> {
  await db('conversions')
    .where({ image_id: imageId, state: 'running' })
    .update({ state: 'failed', error: 'abandoned: the lease of its instance ran out', finished_at: db.fn.now() });
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

/**
 * Gives up the lease `instance` holds on a converting image without recording a failure (it is
 * shutting down): another instance may claim the conversion at once instead of after the lease.
 */
export async function releaseImageLease(db: Db, imageId: number, instance: string): Promise<void> {
  await db('images').where({ id: imageId, instance, state: 'converting' }).update({ lease_expires_at: null, updated_at: db.fn.now() });
}

/**
 * What an operator's conversion request did: `requested` (the image is now pending, a new row if
 * there was none), or nothing because it is `converting` under a live lease or `ready` (and
 * `force` was not given).
 */
export type ConversionRequestOutcome = 'requested' | 'converting' | 'ready';

/**
 * Marks the image pending (converting without a lease), so that the next claim — the conversion
 * the caller starts, or any instance's pull — converts it: a failed image whatever its
 * `retryable`, a ready one only with `force` (its blob references are dropped, the conversion
 * records them again, and the droplet's recorded layers are forgotten so it is converted, not
 * rebased), an absent one as a new row.
 */
export async function requestImageConversion(db: Knex, key: ImageKey, image: { appGuid: string; stack: string; force: boolean }): Promise<ConversionRequestOutcome> {
  return db.transaction(async (trx) => {
    const row = await trx('images')
      .where(keyColumns(key))
      .forUpdate()
      .first('id', 'state', trx.raw('coalesce(lease_expires_at > now(), false) as lease_held'));
    if (!row) {
      await trx('images')
        .insert({
          ...keyColumns(key),
          app_guid: image.appGuid,
          stack: image.stack,
          state: 'converting',
          attempts: 0,
        })
        .onConflict(KEY_COLUMNS)
        .ignore();
      return 'requested';
    }
    if (row.state === 'converting' && row.lease_held === true) return 'converting';
    if (row.state === 'ready' && !image.force) return 'ready';
    if (row.state === 'ready') await trx('image_blobs').where({ image_id: row.id }).delete();
    // Forced: the droplet is converted anew, not rebased from the layers it became before.
    if (image.force) await forgetDroplet(trx, key.dropletGuid);
    await trx('images').where({ id: row.id }).update({ state: 'converting', lease_expires_at: null, updated_at: trx.fn.now() });
    return 'requested';
  });
}
