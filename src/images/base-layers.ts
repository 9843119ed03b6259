/**
 * The layers every image of a stack shares: the stack's tarball (served unchanged), what the
 * foundation changed in it (its trusted CAs: the foundation layer, when a customized rootfs is
 * configured) and the lifecycle. Each file is turned into a layer and stored once; its digest and
 * diff_id are recorded against the file's path, size and mtime (a foundation's also against the
 * stack layer it was compared with), so start-up does not read an unchanged file again.
 */
import { stat } from 'node:fs/promises';
import type { Knex } from 'knex';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { buildFoundationLayer } from '../conversion/foundation-layer.ts';
import { importLayerFile } from '../conversion/import-layer-file.ts';
import type { LayerDescriptor } from '../conversion/layer-descriptor.ts';
import { buildLauncherLayer, buildLifecycleLayerFromTarball } from '../conversion/lifecycle-layer.ts';
import { findImportedLayer, foundationRecordName, recordImportedLayer, type ImportedFile } from '../db/queries/imported-layers.ts';
import { recordLayer } from '../db/queries/layers.ts';

/** What an image of one stack is built on, below the droplet's layers. */
export interface StackBase {
  /** The stack's own tarball, served byte for byte: the same digest wherever that stack release runs. */
  readonly stack: LayerDescriptor;
  /** What the foundation adds to the stack (its trusted CAs); null when the stack is used as is. */
  readonly foundation: LayerDescriptor | null;
}

export interface BaseLayers {
  /** Stack name → its layers. */
  readonly stacks: ReadonlyMap<string, StackBase>;
  readonly lifecycle: LayerDescriptor;
}

/** Every base layer's digest: imported at start-up, never written by a conversion, always kept. */
export function baseLayerDigests(base: BaseLayers): string[] {
  const digests = [base.lifecycle.digest];
  for (const { stack, foundation } of base.stacks.values()) digests.push(stack.digest, ...(foundation ? [foundation.digest] : []));
  return digests;
}

/**
 * The most entries a stack tarball or a customized rootfs may have: what bounds the memory of the
 * comparison that makes the foundation layer (an index entry each, ~250 bytes). cflinuxfs4 has
 * about a tenth of it.
 */
export const MAX_STACK_TREE_ENTRIES = 1_000_000;

/** A file imported as a layer. */
export type ImportedKind = ImportedFile['kind'];

export interface BaseLayerOptions {
  readonly db: Knex;
  readonly blobs: BlobStore;
  /** Stack name → the stack release's tarball. */
  readonly stacks: Readonly<Record<string, string>>;
  /** Stack name → the stack as this foundation customized it (cflinuxfs4-rootfs-setup's rootfs.tar); stacks not named have no foundation layer. */
  readonly stackFoundations?: Readonly<Record<string, string>> | undefined;
  /** An operator-supplied lifecycle tarball; '' for the built-in launcher. */
  readonly lifecycleTarball: string;
  readonly compressionLevel: number;
  /** Told about each file that had to be read (it takes a while for a real rootfs): before, and with the layer after. */
  readonly onImport?: (event: ImportEvent) => void;
  /** Told how far the copy of a rootfs being imported has got, as its chunks are read. */
  readonly onImportProgress?: (event: { kind: 'rootfs'; name: string; path: string; bytesRead: number; totalBytes: number }) => void;
}

/** An import starting (no layer) or done; a foundation's also says how much it changed. */
export interface ImportEvent {
  readonly kind: ImportedKind;
  /** The stack's name, or `lifecycle`. */
  readonly name: string;
  readonly path: string;
  readonly layer?: LayerDescriptor;
  /** A foundation layer's paths added or changed, and whiteouts. */
  readonly changes?: { readonly changed: number; readonly removed: number };
}

/** Imports (or finds already imported) every configured stack, its foundation, and the lifecycle layer. */
export async function prepareBaseLayers(options: BaseLayerOptions): Promise<BaseLayers> {
  const foundations = options.stackFoundations ?? {};
  for (const name of Object.keys(foundations)) {
    if (!(name in options.stacks)) {
      throw new Error(`a customized rootfs is configured for stack ${name} (STACK_FOUNDATIONS), but no stack tarball (STACKS): add ${name} to STACKS or remove it from STACK_FOUNDATIONS`);
    }
  }
  const stacks = new Map<string, StackBase>();
  for (const [name, path] of Object.entries(options.stacks)) {
    const file = { kind: 'rootfs', name, path } as const;
    const stack = await importFile(options, file, async ({ size }) => ({
      layer: await importLayerFile(path, options.blobs, { onProgress: (bytesRead) => options.onImportProgress?.({ ...file, bytesRead, totalBytes: size }) }),
    }));
    const customized = foundations[name];
    const foundation = customized === undefined ? null : await importFoundation(options, name, path, stack, customized);
    stacks.set(name, { stack, foundation });
  }
  const lifecycle = options.lifecycleTarball
    ? await importFile(options, { kind: 'lifecycle', name: 'lifecycle', path: options.lifecycleTarball }, async () => ({
        layer: await buildLifecycleLayerFromTarball(options.lifecycleTarball, options.blobs, options.compressionLevel),
      }))
    : await buildBuiltInLifecycle(options);
  return { stacks, lifecycle };
}

/** The foundation layer of stack `name`: what `customized` holds that differs from the stack tarball. */
function importFoundation(options: BaseLayerOptions, name: string, stackTarball: string, stack: LayerDescriptor, customized: string): Promise<LayerDescriptor> {
  return importFile(
    options,
    { kind: 'foundation', name, path: customized },
    async (customizedFile) => {
      const built = await buildFoundationLayer({
        stackTarball,
        customizedTarball: customized,
        // cflinuxfs4-rootfs-setup rewrites rootfs.tar on every VM start: one rewritten while it was read is refused.
        customizedFile,
        blobs: options.blobs,
        compressionLevel: options.compressionLevel,
        maxEntries: MAX_STACK_TREE_ENTRIES,
      });
      return { layer: built.layer, changes: { changed: built.changed, removed: built.removed } };
    },
    foundationRecordName(name, stack.digest),
  );
}

/**
 * The layer recorded for `file` as it is now (path, size, mtime; recorded under `recordName` when
 * given), or else `build`'s, recorded.
 */
async function importFile(
  options: BaseLayerOptions,
  file: { kind: ImportedKind; name: string; path: string },
  build: (file: { size: number; mtimeMs: number }) => Promise<{ layer: LayerDescriptor; changes?: ImportEvent['changes'] }>,
  recordName?: string,
): Promise<LayerDescriptor> {
  const info = await stat(file.path).catch((error: NodeJS.ErrnoException) => {
    throw new Error(`${file.kind} of ${file.name}: cannot read ${file.path} (${error.code ?? error.message})`);
  });
  const imported: ImportedFile = { ...file, name: recordName ?? file.name, fileSize: info.size, fileMtimeMs: Math.trunc(info.mtimeMs) };
  const known = await findImportedLayer(options.db, imported);
  // Trust the record only while the blob is really there (a wiped blobstore re-imports).
  if (known && (await options.blobs.stat(known.digest))) return known;
  options.onImport?.({ ...file });
  const { layer, changes } = await build({ size: info.size, mtimeMs: info.mtimeMs });
  await recordLayer(options.db, layer, file.kind);
  await recordImportedLayer(options.db, imported, layer.digest);
  options.onImport?.({ ...file, layer, ...(changes ? { changes } : {}) });
  return layer;
}

/** The built-in launcher layer is tiny and reproducible: build it, store it if missing, record it. */
async function buildBuiltInLifecycle(options: BaseLayerOptions): Promise<LayerDescriptor> {
  const layer = await buildLauncherLayer(options.blobs, options.compressionLevel);
  await recordLayer(options.db, layer, 'lifecycle');
  return layer;
}
