/**
 * The admin API's queries on `images`: what each image is and how it got there, filtered and
 * paged, and the operator's "forget this droplet's images" ("convert again" is in images.ts, with
 * the other writes of the conversion protocol). An image whose row says `converting` but whose
 * lease is not held (no instance is at work on it: a conversion was requested and waits for a
 * slot, or its instance died) is reported as `pending`.
 */
import type { Knex } from 'knex';
import { forgetDroplet } from './droplets.ts';

type Db = Knex | Knex.Transaction;

/** The states the admin API reports: the row's, with `converting` split by whether a lease is held. */
export type AdminImageState = 'pending' | 'converting' | 'ready' | 'failed';

export const ADMIN_IMAGE_STATES: readonly AdminImageState[] = ['pending', 'converting', 'ready', 'failed'];

export interface AdminImageFilter {
  readonly appGuid?: string | undefined;
  readonly dropletGuid?: string | undefined;
  readonly state?: AdminImageState | undefined;
  /** Images whose manifest references this blob. */
  readonly layerDigest?: string | undefined;
}

/** One image as the admin API shows it. */
export interface AdminImageRow {
  readonly id: number;
  readonly dropletGuid: string;
  readonly appGuid: string;
  readonly stack: string;
  readonly state: AdminImageState;
  readonly stackDigest: string;
  /** null when the stack is used without a foundation layer. */
  readonly foundationDigest: string | null;
  readonly lifecycleDigest: string;
  readonly manifestDigest: string | null;
  readonly configDigest: string | null;
  /** The droplet's layers in the manifest, bottom → top; empty until ready. */
  readonly dropletLayers: ReadonlyArray<{ readonly digest: string; readonly size: number }>;
  /** Sum of the sizes of the blobs the manifest references (config and layers); null until ready. */
  readonly totalBytes: number | null;
  /** Sum of the sizes of the droplet's layers; null until ready. */
  readonly dropletLayerBytes: number | null;
  readonly error: string | null;
  readonly retryable: boolean;
  readonly attempts: number;
  readonly instance: string | null;
  readonly leaseExpiresAt: Date | null;
  readonly leaseHeld: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly convertedAt: Date | null;
  readonly conversionMs: number | null;
  readonly lastPulledAt: Date | null;
  readonly pullCount: number;
}

/** `lease_held` is compared with the database's clock, like the conversion lease itself. */
const LEASE_HELD = 'coalesce(i.lease_expires_at > now(), false)';

function filtered(db: Db, filter: AdminImageFilter): Knex.QueryBuilder {
  const query = db('images as i');
  if (filter.appGuid !== undefined) query.where('i.app_guid', filter.appGuid);
  if (filter.dropletGuid !== undefined) query.where('i.droplet_guid', filter.dropletGuid);
  if (filter.layerDigest !== undefined) {
    const digest = filter.layerDigest;
    query.whereExists((sub) => sub.select(db.raw('1')).from('image_blobs as ib').whereRaw('ib.image_id = i.id').where('ib.digest', digest));
  }
  if (filter.state === 'pending') query.where('i.state', 'converting').whereRaw(`not ${LEASE_HELD}`);
  else if (filter.state === 'converting') query.where('i.state', 'converting').whereRaw(LEASE_HELD);
  else if (filter.state !== undefined) query.where('i.state', filter.state);
  return query;
}

/** Images matching `filter`, newest first, one page of them, with how many match in all. */
export async function listAdminImages(db: Db, filter: AdminImageFilter, page: { offset: number; limit: number }): Promise<{ total: number; rows: AdminImageRow[] }> {
  const [{ n }] = (await filtered(db, filter).count({ n: '*' })) as [{ n: number | string }];
  const rows = await selectImages(db, filtered(db, filter)).orderBy('i.id', 'desc').offset(page.offset).limit(page.limit);
  return { total: Number(n), rows: rows.map(toAdminImage) };
}

/** Every image of a droplet (one per rootfs and lifecycle it was built with), newest first. */
export async function findDropletImages(db: Db, dropletGuid: string): Promise<AdminImageRow[]> {
  const rows = await selectImages(db, filtered(db, { dropletGuid })).orderBy('i.id', 'desc');
  return rows.map(toAdminImage);
}

function selectImages(db: Db, query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query.select(
    'i.id',
    'i.droplet_guid',
    'i.app_guid',
    'i.stack',
    'i.state',
    'i.stack_digest',
    'i.foundation_digest',
    'i.lifecycle_digest',
    'i.manifest_digest',
    'i.config_digest',
    'i.error',
    'i.retryable',
    'i.attempts',
    'i.instance',
    'i.lease_expires_at',
    'i.created_at',
    'i.updated_at',
    'i.converted_at',
    'i.conversion_ms',
    'i.last_pulled_at',
    'i.pull_count',
    db.raw(`${LEASE_HELD} as lease_held`),
    db.raw('(select sum(b.size)::bigint from image_blobs ib join blobs b on b.digest = ib.digest where ib.image_id = i.id) as total_bytes'),
    db.raw(
      `(select jsonb_agg(jsonb_build_object('digest', ib.digest, 'size', b.size) order by ib.position)
          from image_blobs ib join layers l on l.digest = ib.digest join blobs b on b.digest = ib.digest
         where ib.image_id = i.id and l.kind = 'droplet') as droplet_layers`,
    ),
  );
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function toAdminImage(row: Record<string, unknown>): AdminImageRow {
  const leaseHeld = row.lease_held === true;
  const layers = (typeof row.droplet_layers === 'string' ? JSON.parse(row.droplet_layers) : (row.droplet_layers ?? [])) as Array<{ digest: string; size: unknown }>;
  const dropletLayers = layers.map((layer) => ({ digest: layer.digest, size: Number(layer.size) }));
  const state = row.state === 'converting' && !leaseHeld ? 'pending' : (row.state as AdminImageState);
  return {
    id: Number(row.id),
    dropletGuid: row.droplet_guid as string,
    appGuid: row.app_guid as string,
    stack: row.stack as string,
    state,
    stackDigest: row.stack_digest as string,
    foundationDigest: (row.foundation_digest as string) || null,
    lifecycleDigest: row.lifecycle_digest as string,
    manifestDigest: (row.manifest_digest as string | null) ?? null,
    configDigest: (row.config_digest as string | null) ?? null,
    dropletLayers,
    totalBytes: nullableNumber(row.total_bytes),
    dropletLayerBytes: dropletLayers.length > 0 ? dropletLayers.reduce((sum, layer) => sum + layer.size, 0) : null,
    error: (row.error as string | null) ?? null,
    retryable: row.retryable !== false,
    attempts: Number(row.attempts),
    instance: (row.instance as string | null) ?? null,
    leaseExpiresAt: (row.lease_expires_at as Date | null) ?? null,
    leaseHeld,
    createdAt: row.created_at as Date,
    updatedAt: row.updated_at as Date,
    convertedAt: (row.converted_at as Date | null) ?? null,
    conversionMs: nullableNumber(row.conversion_ms),
    lastPulledAt: (row.last_pulled_at as Date | null) ?? null,
    pullCount: Number(row.pull_count ?? 0),
  };
}

/** What deleting a droplet's images did. */
export type DeleteDropletImagesOutcome =
  | { readonly outcome: 'deleted'; readonly images: ReadonlyArray<{ id: number; state: string; manifestDigest: string | null }> }
  | { readonly outcome: 'absent' }
  | { readonly outcome: 'busy'; readonly imageIds: readonly number[] };

/**
 * Deletes every image row of the droplet (their `image_blobs` and `conversions` go with them;
 * blobs are left to garbage collection) and what the droplet was converted into, so its next
 * image converts it anew; unless one is being converted under a live lease: then nothing is
 * deleted. The rows are locked first, so a claim cannot slip in between.
 */
export async function deleteDropletImages(db: Knex, dropletGuid: string): Promise<DeleteDropletImagesOutcome> {
  return db.transaction(async (trx) => {
    const rows = await trx('images')
      .where({ droplet_guid: dropletGuid })
      .forUpdate()
      .select('id', 'state', 'manifest_digest', trx.raw('coalesce(lease_expires_at > now(), false) as lease_held'));
    if (rows.length === 0) return { outcome: 'absent' };
    const busy = rows.filter((row) => row.state === 'converting' && row.lease_held === true).map((row) => Number(row.id));
    if (busy.length > 0) return { outcome: 'busy', imageIds: busy };
    await trx('images')
      .whereIn(
        'id',
        rows.map((row) => row.id),
      )
      .delete();
    await forgetDroplet(trx, dropletGuid);
    return { outcome: 'deleted', images: rows.map((row) => ({ id: Number(row.id), state: row.state as string, manifestDigest: (row.manifest_digest as string | null) ?? null })) };
  });
}
