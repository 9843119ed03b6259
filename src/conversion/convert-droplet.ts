/**
 * Droplet → image layer in one streaming pass: the downloaded `.tgz` is gunzipped, its entries
 * re-rooted under /home/vcap, hashed (diff_id), recompressed reproducibly, hashed again (digest)
 * and written to a staged blob committed under that digest. Memory stays flat whatever the
 * droplet's size; a bad droplet fails with an `InvalidDropletError` that says what is wrong and
 * leaves nothing in the blobstore.
 */
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { InvalidDropletError } from '../errors/registry-error.ts';
import { describeArchiveError } from './archive-errors.ts';
import { createByteMeter } from './byte-meter.ts';
import { checkDropletComplete, createEntryRuleState, rewriteDropletEntry } from './droplet-entry-rules.ts';
import { createGzipMagicProbe } from './gzip-magic-probe.ts';
import type { LayerDescriptor } from './layer-descriptor.ts';
import { createTarRewrite, type TarEntryRule } from './rewrite-tar.ts';
import { createStagingInfoCapture } from './staging-info.ts';
import { LAYER_CHUNK_BYTES } from './stream-chunk-size.ts';
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
  const { maxUncompressedBytes, maxEntries } = options.limits ?? {};
  const state = createEntryRuleState();
  let entries = 0;
  const rule: TarEntryRule = (header) => {
    entries += 1;
    if (maxEntries !== undefined && entries > maxEntries) {
      throw new InvalidDropletError(`droplet has more than ${maxEntries} entries (limit maxEntries)`);
    }
    return rewriteDropletEntry(header, state);
  };
  // An image with no app would start nothing: refused once every entry is through, before the commit.
  const checkComplete = (): void => {
    if (entries === 0) throw new InvalidDropletError('droplet is empty (its tar archive has no entries)');
    checkDropletComplete(state);
  };
  let tarBytes = 0;
  const limitTarBytes = (total: number): void => {
    tarBytes = total;
    if (maxUncompressedBytes !== undefined && total > maxUncompressedBytes) {
      throw new InvalidDropletError(`droplet unpacks to more than ${maxUncompressedBytes} bytes (limit maxUncompressedBytes)`);
    }
  };
  const stagingInfo = createStagingInfoCapture();
  const magic = createGzipMagicProbe();
  try {
    const layer = await storeTarLayer(
      options.droplet,
      [
        createByteMeter((total) => {
          if (maxUncompressedBytes !== undefined && total > maxUncompressedBytes) {
            throw new InvalidDropletError(`droplet is over ${maxUncompressedBytes} bytes before unpacking (limit maxUncompressedBytes)`);
          }
          options.onProgress?.(total);
        }),
        magic.stream,
        createGunzip({ chunkSize: LAYER_CHUNK_BYTES }),
        createByteMeter(limitTarBytes),
        createTarRewrite(rule, { observe: stagingInfo.observe, atEnd: checkComplete }),
      ],
      options,
    );
    const info = stagingInfo.result();
    if (info !== undefined) options.onStagingInfo?.(info);
    return layer;
  } catch (error) {
    const problem = describeArchiveError(error, tarBytes, magic.startsAsGzip());
    if (problem !== undefined) throw new InvalidDropletError(`droplet ${problem}`, { cause: error });
    throw error;
  }
}
