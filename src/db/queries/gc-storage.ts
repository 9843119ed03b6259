/**
 * What the registry's blobs take in its blobstore, for the storage budget: the total (every
 * committed blob, unreferenced ones waiting out the grace period included, since they still take
 * the space), and, when garbage collection must evict, every blob with what refers to it.
 */
import type { Knex } from 'knex';
import type { GcBlob } from './gc-blobs.ts';

type Db = Knex | Knex.Transaction;

export interface BlobStorage {
  readonly usedBytes: number;
  readonly blobCount: number;
}

/** The bytes and number of every blob the registry has recorded (one aggregate over `blobs`). */
export async function measureBlobStorage(db: Db): Promise<BlobStorage> {
  const row = await db('blobs').first(db.raw('coalesce(sum(size), 0) as bytes'), db.raw('count(*) as n'));
  return { usedBytes: Number(row?.bytes ?? 0), blobCount: Number(row?.n ?? 0) };
}

/** Every blob and every reference to one, as eviction weighs them. */
export interface StorageReferences {
  /** Every blob, in the order it is best deleted early: marked unreferenced longest ago first, then unmarked ones, by digest. */
  readonly blobs: readonly GcBlob[];
  /** Each image's digests: its manifest's blobs and those its row names (stack, foundation, lifecycle, config). */
  readonly images: ReadonlyArray<{ readonly id: number; readonly dropletGuid: string; readonly digests: readonly string[] }>;
  /** Each droplet's converted layers. */
  readonly droplets: ReadonlyMap<string, readonly string[]>;
}

export async function loadStorageReferences(db: Db): Promise<StorageReferences> {
  const blobs = await db('blobs').orderByRaw('unreferenced_since asc nulls last, digest').select('digest', 'size', 'media_type');
  const images = await db('images').orderBy('id').select('id', 'droplet_guid');
  const references = await db.raw(`
    select ib.image_id, ib.digest from image_blobs ib
    union
    select i.id, v.digest
      from images i
      cross join lateral (values (i.stack_digest), (nullif(i.foundation_digest, '')), (i.lifecycle_digest), (i.config_digest)) as v(digest)
     where v.digest is not null`);
  const digestsOf = new Map<number, string[]>();
  for (const row of references.rows as Array<{ image_id: number | string; digest: string }>) {
    const id = Number(row.image_id);
    const digests = digestsOf.get(id) ?? [];
    digests.push(row.digest);
    digestsOf.set(id, digests);
  }
  const droplets = await db.raw(`select d.droplet_guid, l.layer ->> 'digest' as digest from droplets d cross join lateral jsonb_array_elements(d.layers) as l(layer)`);
  const layersOf = new Map<string, string[]>();
  for (const row of droplets.rows as Array<{ droplet_guid: string; digest: string | null }>) {
    if (row.digest === null) continue;
    const digests = layersOf.get(row.droplet_guid) ?? [];
    digests.push(row.digest);
    layersOf.set(row.droplet_guid, digests);
  }
  return {
    blobs: blobs.map((row: Record<string, unknown>) => ({ digest: row.digest as string, size: Number(row.size), mediaType: row.media_type as string })),
    images: images.map((row: { id: number | string; droplet_guid: string }) => ({ id: Number(row.id), dropletGuid: row.droplet_guid, digests: digestsOf.get(Number(row.id)) ?? [] })),
    droplets: layersOf,
  };
}
