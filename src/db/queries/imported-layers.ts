/**
 * Queries on `imported_layers`: stack, foundation and lifecycle files turned into layers once and
 * recorded with the file's size and mtime, so a restart with the same file does not do it again.
 */
import type { Knex } from 'knex';
import type { LayerDescriptor } from '../../conversion/layer-descriptor.ts';

export interface ImportedFile {
  /** `rootfs`: a stack's tarball; `foundation`: a stack as a foundation customized it; `lifecycle`. */
  readonly kind: 'rootfs' | 'foundation' | 'lifecycle';
  /** Stack name for rootfs, `foundationRecordName(…)` for a foundation, `lifecycle` for the lifecycle. */
  readonly name: string;
  readonly path: string;
  readonly fileSize: number;
  readonly fileMtimeMs: number;
}

/**
 * The name a foundation import is recorded under: the stack's name and the digest of the stack
 * layer it was compared with, so a new stack tarball is compared again even when the customized
 * rootfs kept its size and mtime. (`@` is no character of a stack name.)
 */
export function foundationRecordName(stack: string, stackDigest: string): string {
  return `${stack}@${stackDigest}`;
}

/** The layer recorded for exactly this file (same path, size and mtime), if any. */
export async function findImportedLayer(db: Knex | Knex.Transaction, file: ImportedFile): Promise<LayerDescriptor | undefined> {
  const row = await db('imported_layers as i')
    .join('layers as l', 'l.digest', 'i.layer_digest')
    .join('blobs as b', 'b.digest', 'l.digest')
    .where({ 'i.kind': file.kind, 'i.name': file.name, 'i.path': file.path, 'i.file_size': file.fileSize, 'i.file_mtime_ms': file.fileMtimeMs })
    .first('l.digest', 'l.diff_id', 'l.uncompressed_size', 'b.size', 'b.media_type');
  if (!row) return undefined;
  return {
    digest: row.digest,
    diffId: row.diff_id,
    size: Number(row.size),
    uncompressedSize: Number(row.uncompressed_size),
    mediaType: row.media_type,
  };
}

/** Records that `file` is the layer `layerDigest` (already recorded with `recordLayer`). */
export async function recordImportedLayer(db: Knex | Knex.Transaction, file: ImportedFile, layerDigest: string): Promise<void> {
  await db('imported_layers')
    .insert({
      kind: file.kind,
      name: file.name,
      path: file.path,
      file_size: file.fileSize,
      file_mtime_ms: file.fileMtimeMs,
      layer_digest: layerDigest,
    })
    .onConflict(['kind', 'name', 'path', 'file_size', 'file_mtime_ms'])
    .ignore();
}
