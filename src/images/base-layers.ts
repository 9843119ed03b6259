/**
 * The layers every image of a stack shares: the stack's rootfs (served unchanged) and the
 * lifecycle. Each rootfs file is hashed and copied into the blobstore once; its digest and
 * diff_id are recorded against the file's path, size and mtime, so start-up does not hash an
 * unchanged rootfs again.
 */
import { stat } from 'node:fs/promises';
import type { Knex } from 'knex';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { importLayerFile } from '../conversion/import-layer-file.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import { buildLauncherLayer, buildLifecycleLayerFromTarball } from '../conversion/lifecycle-layer.ts';
import { findImportedLayer, recordImportedLayer, type ImportedFile } from '../db/queries/imported-layers.ts';
import { recordLayer } from '../db/queries/layers.ts';

export interface BaseLayers {
  /** Stack name → its rootfs layer. */
  readonly rootfs: ReadonlyMap<string, LayerDescriptor>;
  readonly lifecycle: LayerDescriptor;
}

export interface BaseLayerOptions {
  readonly db: Knex;
  readonly blobs: BlobStore;
  readonly stacks: Readonly<Record<string, string>>;
  /** An operator-supplied lifecycle tarball; '' for the built-in launcher. */
  readonly lifecycleTarball: string;
  readonly compressionLevel: number;
  /** Told about each file that had to be hashed (it takes a while for a real rootfs). */
  readonly onImport?: (event: { kind: 'rootfs' | 'lifecycle'; name: string; path: string; layer?: LayerDescriptor }) => void;
  /** Told how far the copy of a rootfs being imported has got, as its chunks are read. */
  readonly onImportProgress?: (event: { kind: 'rootfs'; name: string; path: string; bytesRead: number; totalBytes: number }) => void;
}

/** Imports (or finds already imported) every configured rootfs and the lifecycle layer. */
export async function prepareBaseLayers(options: BaseLayerOptions): Promise<BaseLayers> {
  const rootfs = new Map<string, LayerDescriptor>();
  for (const [stack, path] of Object.entries(options.stacks)) {
    const file = { kind: 'rootfs', name: stack, path } as const;
    rootfs.set(
      stack,
      await importFile(options, file, (totalBytes) =>
        importLayerFile(path, options.blobs, { onProgress: (bytesRead) => options.onImportProgress?.({ ...file, bytesRead, totalBytes }) }),
      ),
    );
  }
  const lifecycle = options.lifecycleTarball
    ? await importFile(options, { kind: 'lifecycle', name: 'lifecycle', path: options.lifecycleTarball }, () =>
        buildLifecycleLayerFromTarball(options.lifecycleTarball, options.blobs, options.compressionLevel),
      )
    : await buildBuiltInLifecycle(options);
  return { rootfs, lifecycle };
}

async function importFile(
  options: BaseLayerOptions,
  file: { kind: 'rootfs' | 'lifecycle'; name: string; path: string },
  build: (fileSize: number) => Promise<LayerDescriptor>,
): Promise<LayerDescriptor> {
  const info = await stat(file.path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${file.kind} of ${file.name}: cannot read ${file.path} (${error.code ?? error.message})`);
  });
  const imported: ImportedFile = { ...file, fileSize: info.size, fileMtimeMs: Math.trunc(info.mtimeMs) };
  const known = await findImportedLayer(options.db, imported);
  // Trust the record only while the blob is really there (a wiped blobstore re-imports).
  if (known && (await options.blobs.stat(known.digest))) return known;
  options.onImport?.({ ...file });
  const layer = await build(info.size);
  await recordLayer(options.db, layer, file.kind);
  await recordImportedLayer(options.db, imported, layer.digest);
  options.onImport?.({ ...file, layer });
  return layer;
}

/** The built-in launcher layer is tiny and reproducible: build it, store it if missing, record it. */
async function buildBuiltInLifecycle(options: BaseLayerOptions): Promise<LayerDescriptor> {
  const layer = await buildLauncherLayer(options.blobs, options.compressionLevel);
  await recordLayer(options.db, layer, 'lifecycle');
  return layer;
}
