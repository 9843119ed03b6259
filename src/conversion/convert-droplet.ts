/**
 * Droplet → image layer in one streaming pass: the downloaded `.tgz` is gunzipped, its entries
 * re-rooted under /home/vcap, hashed (diff_id), recompressed reproducibly, hashed again (digest)
 * and written to a staged blob committed under that digest. Memory stays flat whatever the
 * droplet's size; a bad droplet fails with an `InvalidDropletError` that says what is wrong and
 * leaves nothing in the blobstore.
 */
import type { Readable } from 'node:stream';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { createDropletInput } from './droplet-input.ts';
import type { LayerDescriptor } from './layer-descriptor.ts';
import { createTarRewrite } from './rewrite-tar.ts';
import { storeTarLayer } from './store-layer.ts';

/** Bounds against decompression bombs and entry floods. */
export interface ConversionLimits {
  /**
   * Most bytes the droplet may gunzip to, and be read from its source: a gzip stream is no larger
   * than what it unpacks to (but for a few bytes), and empty gzip members or bytes after the tar
   * archive's end unpack to nothing, so they would otherwise be read without end.
   */
  readonly maxUncompressedBytes?: number | undefined;
  /** Most tar entries the droplet may have. */
  readonly maxEntries?: number | undefined;
}

/** One droplet to convert and where its layer goes. */
export interface ConvertDropletOptions {
  /** The droplet's `.tgz` bytes, e.g. the blobstore download. */
  readonly droplet: Readable;
  readonly blobs: BlobStore;
  /** gzip level of the layer, 1–9. */
  readonly compressionLevel: number;
  readonly signal?: AbortSignal | undefined;
  /** Compressed bytes read so far, after each chunk. */
  readonly onProgress?: ((bytesRead: number) => void) | undefined;
  /** The droplet's `staging_info.yml` when it is a JSON object; called before the promise settles. */
  readonly onStagingInfo?: ((info: Record<string, unknown>) => void) | undefined;
  readonly limits?: ConversionLimits | undefined;
}

/** Converts one droplet into a stored gzip layer rooted at /home/vcap. */
export async function convertDroplet(options: ConvertDropletOptions): Promise<LayerDescriptor> {
  const input = createDropletInput(options);
  try {
    const layer = await storeTarLayer(
      options.droplet,
      [...input.stages, createTarRewrite(input.rule, { observe: input.stagingInfo.observe, atEnd: input.checkComplete })],
      options,
    );
    const info = input.stagingInfo.result();
    if (info !== undefined) options.onStagingInfo?.(info);
    return layer;
  } catch (error) {
    throw input.describeFailure(error);
  }
}
