/**
 * The admin API's queries on `layers` (with their `blobs` rows): what each layer is, how much
 * space it takes, how often it is pulled and how many images reference it.
 */
import type { Knex } from 'knex';
import type { LayerKind } from '../tables.ts';

type Db = Knex | Knex.Transaction;

export const LAYER_KINDS: readonly LayerKind[] = ['rootfs', 'foundation', 'droplet', 'lifecycle'];

/** One layer as the admin API shows it. */
export interface AdminLayerRow {
  readonly digest: string;
  readonly kind: LayerKind;
  readonly mediaType: string;
  /** Compressed size, as served (`blobs.size`). */
  readonly size: number;
  readonly uncompressedSize: number;
  readonly diffId: string;
  readonly createdAt: Date;
  readonly lastPulledAt: Date | null;
  readonly pullCount: number;
  /** Images whose manifest references the layer. */
  readonly imageCount: number;
  /** Since when garbage collection has found no image referencing it (null while referenced). */
  readonly unreferencedSince: Date | null;
}

function selectLayers(db: Db): Knex.QueryBuilder {
  return db('layers as l')
    .join('blobs as b', 'b.digest', 'l.digest')
    .select(
      'l.digest',
      'l.kind',
      'l.diff_id',
      'l.uncompressed_size',
      'l.created_at',
      'l.last_pulled_at',
      'l.pull_count',
      'b.size',
      'b.media_type',
      'b.unreferenced_since',
      db.raw('(select count(*) from image_blobs ib where ib.digest = l.digest) as image_count'),
    );
}

function toAdminLayer(row: Record<string, unknown>): AdminLayerRow {
  return {
    digest: row.digest as string,
    kind: row.kind as LayerKind,
    mediaType: row.media_type as string,
    size: Number(row.size),
    uncompressedSize: Number(row.uncompressed_size),
    diffId: row.diff_id as string,
    createdAt: row.created_at as Date,
    lastPulledAt: (row.last_pulled_at as Date | null) ?? null,
    pullCount: Number(row.pull_count),
    imageCount: Number(row.image_count),
    unreferencedSince: (row.unreferenced_since as Date | null) ?? null,
  };
}

/** Layers (of one kind, if given), newest first, one page of them, with how many match in all. */
export async function listAdminLayers(db: Db, filter: { kind?: LayerKind | undefined }, page: { offset: number; limit: number }): Promise<{ total: number; rows: AdminLayerRow[] }> {
  const where = (query: Knex.QueryBuilder) => (filter.kind === undefined ? query : query.where('l.kind', filter.kind));
  const [{ n }] = (await where(db('layers as l')).count({ n: '*' })) as [{ n: number | string }];
  const rows = await where(selectLayers(db)).orderBy([{ column: 'l.created_at', order: 'desc' }, { column: 'l.digest' }]).offset(page.offset).limit(page.limit);
  return { total: Number(n), rows: rows.map(toAdminLayer) };
}

/** One layer, or undefined when the registry has no such layer. */
export async function findAdminLayer(db: Db, digest: string): Promise<AdminLayerRow | undefined> {
  const row = await selectLayers(db).where('l.digest', digest).first();
  return row ? toAdminLayer(row) : undefined;
}

/** Guids of the droplets whose images reference the layer (at most `limit`, oldest image first). */
export async function findLayerDropletGuids(db: Db, digest: string, limit: number): Promise<string[]> {
  const rows = await db('image_blobs as ib').join('images as i', 'i.id', 'ib.image_id').where('ib.digest', digest).distinct('i.droplet_guid', 'i.id').orderBy('i.id').limit(limit);
  return [...new Set(rows.map((row) => row.droplet_guid as string))];
}
