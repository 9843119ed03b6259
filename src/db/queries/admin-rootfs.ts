/**
 * The admin API's queries on `imported_layers`: which stack tarballs, foundation trees and
 * lifecycle files (versions) were imported as layers, and when.
 */
import type { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

export type ImportedLayerKind = 'rootfs' | 'foundation' | 'lifecycle';

/** A stack tarball ('rootfs'), a foundation's customized rootfs or a lifecycle file imported as a layer. */
export interface AdminImportedLayerRow {
  readonly id: number;
  readonly kind: ImportedLayerKind;
  readonly name: string;
  readonly path: string;
  readonly fileSize: number;
  readonly fileMtime: Date;
  readonly layerDigest: string;
  /** Compressed size of the layer; null if its blob row is gone. */
  readonly layerSize: number | null;
  readonly importedAt: Date;
}

/** Imported files (of one kind, if given), newest import first, one page. */
export async function listImportedLayers(db: Db, filter: { kind?: ImportedLayerKind | undefined }, page: { offset: number; limit: number }): Promise<{ total: number; rows: AdminImportedLayerRow[] }> {
  const where = (query: Knex.QueryBuilder) => (filter.kind === undefined ? query : query.where('il.kind', filter.kind));
  const [{ n }] = (await where(db('imported_layers as il')).count({ n: '*' })) as [{ n: number | string }];
  const rows: Array<Record<string, unknown>> = await where(db('imported_layers as il').leftJoin('blobs as b', 'b.digest', 'il.layer_digest'))
    .select('il.id', 'il.kind', 'il.name', 'il.path', 'il.file_size', 'il.file_mtime_ms', 'il.layer_digest', 'il.imported_at', 'b.size')
    .orderBy([{ column: 'il.imported_at', order: 'desc' }, { column: 'il.id', order: 'desc' }])
    .offset(page.offset)
    .limit(page.limit);
  return {
    total: Number(n),
    rows: rows.map((row) => ({
      id: Number(row.id),
      kind: row.kind as ImportedLayerKind,
      name: row.name as string,
      path: row.path as string,
      fileSize: Number(row.file_size),
      fileMtime: new Date(Number(row.file_mtime_ms)),
      layerDigest: row.layer_digest as string,
      layerSize: row.size === null ? null : Number(row.size),
      importedAt: row.imported_at as Date,
    })),
  };
}
