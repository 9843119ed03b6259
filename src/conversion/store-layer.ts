/**
 * The tail every built layer shares: tar → reproducible gzip (which also hashes the tar for the
 * diff_id, block by block) → digest tap → staged blob, run as one `stream.pipeline` behind
 * whatever stages produce the tar, and committed under its digest only when all of it succeeded.
 */
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { createDigestCounter, createDigestTap } from './digest-tap.ts';
import { OCI_LAYER_GZIP, type LayerDescriptor } from './layer-descriptor.ts';
import { createReproducibleGzip, type GzipBlockBudget } from './reproducible-gzip.ts';
import { writeStagedBlob } from './staged-write.ts';

/** Where a built layer goes and how it is compressed. */
export interface StoreLayerOptions {
  readonly blobs: BlobStore;
  /** gzip level, 1–9. */
  readonly compressionLevel: number;
  readonly signal?: AbortSignal | undefined;
}

/** The compressing end of a layer's pipeline, and what it found once the tar has gone through. */
export interface LayerTail {
  /** Put these behind the tar, in front of the blob's writable. */
  readonly stages: readonly Duplex[];
  /** The layer's descriptor; only once the stages have ended. */
  describe(): LayerDescriptor;
}

/**
 * Reproducible gzip (which also hashes the tar for the diff_id, block by block), then the digest
 * tap; `budget`: the blocks in flight it shares with the other layers of one conversion.
 */
export function createLayerTail(compressionLevel: number, budget?: GzipBlockBudget): LayerTail {
  const diffId = createDigestCounter();
  const gzip = createReproducibleGzip(compressionLevel, { onInput: (block) => diffId.update(block), budget });
  const digest = createDigestTap();
  return {
    stages: [gzip, digest.stream],
    describe() {
      diffId.finish();
      return { digest: digest.digest(), diffId: diffId.digest(), size: digest.size(), uncompressedSize: diffId.size(), mediaType: OCI_LAYER_GZIP };
    },
  };
}

/**
 * Streams the tar that `source` and `transforms` produce into the blobstore as a gzip layer and
 * describes it. On failure nothing is committed and every stage is destroyed.
 */
export async function storeTarLayer(source: Readable, transforms: readonly Duplex[], options: StoreLayerOptions): Promise<LayerDescriptor> {
  // The source may already be flowing (an HTTP download): an error it emits while the blobstore
  // prepares the staged write stays recorded on the stream, and pipeline reports it.
  const holdEarlyError = (): void => undefined;
  source.on('error', holdEarlyError);
  const stages: Array<Readable | Duplex> = [source, ...transforms];
  try {
    const tail = createLayerTail(options.compressionLevel);
    stages.push(...tail.stages);
    return await writeStagedBlob(options.blobs, options.signal, async (writable) => {
      await pipeline([...stages, writable], { signal: options.signal });
      return tail.describe();
    });
  } catch (error) {
    // pipeline destroys its streams when it fails; a failure before it ran (staging) must too.
    for (const stream of stages) stream.destroy();
    throw error;
  } finally {
    source.off('error', holdEarlyError);
  }
}
