/**
 * Several layers written from one pass and stored all or none: each is written into a staged blob
 * of its own, and only once every one of them is complete are they committed, so a failure in any
 * layer leaves no blob of the others behind. A layer whose digest the store already holds (a
 * deps layer another app or an earlier staging made) is not written again: its staged copy is
 * dropped, and the caller is told it was found rather than committed, so that it never removes a
 * blob it did not create.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, StagedBlob } from '../blobstore/blob-store.ts';
import type { LayerDescriptor } from './layer-descriptor.ts';
import type { GzipBlockBudget } from './reproducible-gzip.ts';
import { createLayerTail, type StoreLayerOptions } from './store-layer.ts';

/** A complete layer in a staged blob, not committed yet. */
export interface StagedLayer {
  readonly descriptor: LayerDescriptor;
  readonly staged: StagedBlob;
}

/** How a layer reached the store: this conversion wrote its blob, or the store already had it. */
export type StoredOutcome = 'committed' | 'found';

/** Where a staged layer goes and how it is compressed. */
export interface StagedLayerOptions extends StoreLayerOptions {
  /** Blocks in flight shared with the other layers written at the same time. */
  readonly gzipBudget?: GzipBlockBudget | undefined;
}

/** Writes the tar `source` gives into a fresh staged blob as a gzip layer; on failure the staged blob is cancelled. */
export async function writeStagedLayer(source: Readable, options: StagedLayerOptions): Promise<StagedLayer> {
  // An error the source emits while the blobstore prepares the staged write stays recorded on the
  // stream, and pipeline reports it.
  const holdEarlyError = (): void => undefined;
  source.on('error', holdEarlyError);
  let staged: StagedBlob;
  try {
    staged = await options.blobs.stage({ signal: options.signal });
  } catch (error) {
    source.destroy();
    throw error;
  } finally {
    source.off('error', holdEarlyError);
  }
  try {
    const tail = createLayerTail(options.compressionLevel, options.gzipBudget);
    await pipeline([source, ...tail.stages, staged.writable], { signal: options.signal });
    return { descriptor: tail.describe(), staged };
  } catch (error) {
    // A staged write that could not be cancelled is left to the blobstore's sweepStaging.
    await staged.cancel().catch(() => undefined);
    throw error;
  }
}

/** Drops staged layers that will not be committed. */
export async function cancelStagedLayers(layers: readonly StagedLayer[]): Promise<void> {
  await Promise.all(layers.map((layer) => layer.staged.cancel().catch(() => undefined)));
}

/**
 * Commits each layer under its digest, in order, unless the store already has that digest (its
 * staged copy is then cancelled). All or none: when one fails, the staged copies left are
 * cancelled and the blobs this call committed are deleted before the error is thrown.
 */
export async function commitStagedLayers(blobs: BlobStore, layers: readonly StagedLayer[]): Promise<StoredOutcome[]> {
  const outcomes: StoredOutcome[] = [];
  const committed: string[] = [];
  try {
    for (const { descriptor, staged } of layers) {
      if ((await blobs.stat(descriptor.digest)) !== null) {
        await staged.cancel();
        outcomes.push('found');
      } else {
        await staged.commit(descriptor.digest);
        committed.push(descriptor.digest);
        outcomes.push('committed');
      }
    }
    return outcomes;
  } catch (error) {
    await cancelStagedLayers(layers.slice(outcomes.length));
    await Promise.all(committed.map((digest) => blobs.delete(digest).catch(() => undefined)));
    throw error;
  }
}
