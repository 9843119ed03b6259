/**
 * Garbage collection's queries on `blobs`: the mark (since when no image has referenced a blob)
 * and the checks and deletes of the sweep. A blob is referenced by an image's manifest
 * (`image_blobs`), by the base layers and results recorded on any image row (a conversion in
 * flight has no `image_blobs` yet, but names its stack, foundation and lifecycle), by the layers
 * a droplet was converted into (`droplets.layers`, reused to build its images on a new base), or
 * by the caller's `keep` list (the base layers of the running configuration). A `droplets` row
 * lives as long as an image of its droplet does: garbage collection removes it with the last one.
 */
import type { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

/** A blob as the sweep reports it. */
export interface GcBlob {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

/** What the reference checks keep and leave out. */
export interface ReferenceScope {
  /** Digests that count as referenced whatever the images say. */
  readonly keep: readonly string[];
  /** Images about to be removed (a dry run has not removed them): `referenced_after` leaves them out. */
  readonly excludedImageIds?: readonly number[];
}

/**
 * `referenced_now`: every digest an image, a droplet or the keep list refers to;
 * `referenced_after`: the same without the excluded images, and without the droplets left with no
 * image once they are gone (their rows go with their last image). Two bindings.
 */
const REFERENCED_CTE = `
  excluded as (select (jsonb_array_elements_text(?::jsonb))::bigint as id),
  image_refs as (
    select ib.image_id, ib.digest from image_blobs ib
    union
    select i.id, v.digest
      from images i
      cross join lateral (values (i.stack_digest), (nullif(i.foundation_digest, '')), (i.lifecycle_digest), (i.config_digest)) as v(digest)
      where v.digest is not null
  ),
  droplet_refs as (
    select d.droplet_guid, layer ->> 'digest' as digest from droplets d cross join lateral jsonb_array_elements(d.layers) as l(layer)
  ),
  kept as (select jsonb_array_elements_text(?::jsonb) as digest),
  referenced_now as (select digest from image_refs union select digest from droplet_refs union select digest from kept),
  referenced_after as (
    select digest from image_refs where image_id not in (select id from excluded)
    union
    select r.digest from droplet_refs r
     where exists (select 1 from images i where i.droplet_guid = r.droplet_guid and i.id not in (select id from excluded))
    union
    select digest from kept)`;

function scopeBindings(scope: ReferenceScope): string[] {
  return [JSON.stringify(scope.excludedImageIds ?? []), JSON.stringify(scope.keep)];
}

const REFERENCED_NOW = `exists (select 1 from referenced_now r where r.digest = b.digest)`;
const UNREFERENCED_NOW = `not ${REFERENCED_NOW}`;
const UNREFERENCED_AFTER = `not exists (select 1 from referenced_after r where r.digest = b.digest)`;
const PAST_GRACE = `b.unreferenced_since < now() - ? * interval '1 millisecond'`;

/**
 * Clears the mark of every blob referenced now: a blob referenced again since it was marked
 * starts a new grace period once unreferenced again (run before removing images).
 */
export async function clearMarksOfReferencedBlobs(db: Db, keep: readonly string[]): Promise<void> {
  await db.raw(`with ${REFERENCED_CTE} update blobs b set unreferenced_since = null where b.unreferenced_since is not null and ${REFERENCED_NOW}`, scopeBindings({ keep }));
}

/** The mark: records now as the time each unreferenced blob not marked yet was found so. Returns how many. */
export async function markUnreferencedBlobs(db: Db, keep: readonly string[]): Promise<number> {
  const marked = await db.raw(
    `with ${REFERENCED_CTE} update blobs b set unreferenced_since = now() where b.unreferenced_since is null and ${UNREFERENCED_NOW} returning b.digest`,
    scopeBindings({ keep }),
  );
  return (marked.rows as unknown[]).length;
}

/** What `clearMarksOfReferencedBlobs`, removing the excluded images and `markUnreferencedBlobs` would mark now (a dry run). */
export async function countBlobsToMark(db: Db, scope: ReferenceScope): Promise<number> {
  const result = await db.raw(
    `with ${REFERENCED_CTE} select count(*) as n from blobs b where ${UNREFERENCED_AFTER} and (b.unreferenced_since is null or ${REFERENCED_NOW})`,
    scopeBindings(scope),
  );
  return Number(result.rows[0].n);
}

/** Unreferenced blobs (once the excluded images are gone) still within the grace period, or not marked yet. */
export async function countPendingBlobs(db: Db, scope: ReferenceScope, graceMs: number): Promise<number> {
  const result = await db.raw(
    `with ${REFERENCED_CTE} select count(*) as n from blobs b
     where ${UNREFERENCED_AFTER} and (b.unreferenced_since is null or not (${PAST_GRACE}) or ${REFERENCED_NOW})`,
    [...scopeBindings(scope), graceMs],
  );
  return Number(result.rows[0].n);
}

/**
 * Blobs marked longer ago than the grace period and referenced by no image now, by digest: what
 * the sweep deletes. The same before and after a run removes images (what those images
 * referenced was referenced at the run's start, so its mark is cleared or fresh).
 */
export async function listSweepableBlobs(db: Db, keep: readonly string[], graceMs: number): Promise<GcBlob[]> {
  const result = await db.raw(
    `with ${REFERENCED_CTE} select b.digest, b.size, b.media_type from blobs b where ${UNREFERENCED_NOW} and ${PAST_GRACE} order by b.digest`,
    [...scopeBindings({ keep }), graceMs],
  );
  return (result.rows as Array<Record<string, unknown>>).map((row) => ({ digest: row.digest as string, size: Number(row.size), mediaType: row.media_type as string }));
}

/**
 * Within the sweep's transaction: locks `images` against conversions starting or landing, then
 * the blob's row while it is still marked past the grace period (`graceMs` null: marked at all,
 * for a blob deleted early to get under the storage budget), so that no reference to it can be
 * committed until the transaction ends (adding one takes a key-share lock on the row). In that
 * order because a landing conversion takes them in that order too (it updates its image row,
 * then references its blobs): the other order could deadlock with it. False when the blob is no
 * longer there or no longer marked (past the grace period).
 */
export async function lockSweepableBlob(trx: Knex.Transaction, digest: string, graceMs: number | null): Promise<boolean> {
  await trx.raw('lock table images in share mode');
  const query = trx('blobs as b').where('b.digest', digest).whereNotNull('b.unreferenced_since');
  if (graceMs !== null) query.whereRaw(PAST_GRACE, [graceMs]);
  const row = await query.forUpdate().first('b.digest');
  return row !== undefined;
}

/** Is the blob referenced (see the module comment)? Run after `lockSweepableBlob`, so the answer holds until the transaction ends. */
export async function isBlobReferenced(db: Db, digest: string, keep: readonly string[]): Promise<boolean> {
  if (keep.includes(digest)) return true;
  const result = await db.raw(
    `select exists (select 1 from image_blobs where digest = ?)
         or exists (select 1 from images where stack_digest = ? or foundation_digest = ? or lifecycle_digest = ? or config_digest = ?)
         or exists (select 1 from droplets where layers @> ?::jsonb) as referenced`,
    [digest, digest, digest, digest, digest, JSON.stringify([{ digest }])],
  );
  return result.rows[0].referenced === true;
}

/** Clears the mark of a blob found referenced again. */
export async function unmarkBlob(db: Db, digest: string): Promise<void> {
  await db('blobs').where({ digest }).update({ unreferenced_since: null });
}

/**
 * Is a conversion under way, or was one until less than `graceMs` ago (an instance that lost its
 * lease may still be finishing)? Such a conversion may have found a blob already committed
 * (content is reproducible: a droplet converted again gives the same layer) and be about to
 * record it, so the sweep leaves blobs alone meanwhile.
 */
export async function isConversionInFlight(db: Db, graceMs: number): Promise<boolean> {
  const row = await db('images')
    .where({ state: 'converting' })
    .whereRaw(`coalesce(lease_expires_at, updated_at) > now() - ? * interval '1 millisecond'`, [graceMs])
    .first('id');
  return row !== undefined;
}

/** Deletes the blob's rows: the import records of a base layer, its layer row, its blob row. */
export async function deleteBlobRows(db: Db, digest: string): Promise<void> {
  const layers = db('layers').where({ digest }).select('digest');
  await db('imported_layers').whereIn('layer_digest', layers).delete();
  await db('layers').where({ digest }).delete();
  await db('blobs').where({ digest }).delete();
}
