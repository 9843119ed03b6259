/** Queries on `blobs` and `layers`: what the registry has stored, and what each layer is. */
import type { Knex } from 'knex';
import type { LayerDescriptor } from '../../conversion/layer-descriptor.ts';

export type LayerKind = 'rootfs' | 'foundation' | 'droplet' | 'lifecycle';

/** Records a stored blob (config or layer); a blob recorded before is left as it is. */
export async function recordBlob(db: Knex | Knex.Transaction, blob: { digest: string; size: number; mediaType: string }): Promise<void> {
  await db('blobs').insert({ digest: blob.digest, size: blob.size, media_type: blob.mediaType }).onConflict('digest').ignore();
}

/** Records a stored blob that nothing references, marked for garbage collection (its grace period starts now); a blob recorded before is left as it is. */
export async function recordUnreferencedBlob(db: Knex | Knex.Transaction, blob: { digest: string; size: number; mediaType: string }): Promise<void> {
  await db('blobs').insert({ digest: blob.digest, size: blob.size, media_type: blob.mediaType, unreferenced_since: db.fn.now() }).onConflict('digest').ignore();
}

/** Records a layer and its blob; a layer recorded before is left as it is. */
export async function recordLayer(db: Knex | Knex.Transaction, layer: LayerDescriptor, kind: LayerKind): Promise<void> {
  await recordBlob(db, layer);
  await db('layers')
    .insert({ digest: layer.digest, diff_id: layer.diffId, kind, uncompressed_size: layer.uncompressedSize })
    .onConflict('digest')
    .ignore();
}

/** Is there a row for this blob (so some image may reference it)? */
export async function isBlobRecorded(db: Knex | Knex.Transaction, digest: string): Promise<boolean> {
  return (await db('blobs').where({ digest }).first('digest')) !== undefined;
}
