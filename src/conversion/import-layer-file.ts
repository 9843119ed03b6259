/**
 * Imports a file served unchanged as a layer (a stack's rootfs tarball): one read of the file
 * copies it into the blobstore while computing its digest (the stored bytes) and its diff_id (the
 * tar inside: gunzipped on the side when the file is gzip, the file itself when it is a plain tar).
 */
import { createReadStream } from 'node:fs';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { describeArchiveError } from './archive-errors.ts';
import { createByteMeter } from './byte-meter.ts';
import { createDigestTap } from './digest-tap.ts';
import { InvalidLayerFileError } from './invalid-layer-file-error.ts';
import { OCI_LAYER_GZIP, OCI_LAYER_TAR, type LayerDescriptor } from './layer-descriptor.ts';
import { writeStagedBlob } from './staged-write.ts';

/** Copies `path` into the blobstore under its digest and describes it as a layer; `onProgress` hears the bytes read so far. */
export async function importLayerFile(
  path: string,
  blobs: BlobStore,
  options: { signal?: AbortSignal; onProgress?: (bytesRead: number) => void } = {},
): Promise<LayerDescriptor> {
  const digest = createDigestTap();
  const content = createContentTap();
  try {
    return await writeStagedBlob(blobs, options.signal, async (writable) => {
      const read = createByteMeter((total) => options.onProgress?.(total));
      await pipeline(createReadStream(path), read, content.stream, digest.stream, writable, { signal: options.signal });
      const inner = content.gunzipped();
      return {
        digest: digest.digest(),
        diffId: inner?.digest() ?? digest.digest(),
        size: digest.size(),
        uncompressedSize: inner?.size() ?? digest.size(),
        mediaType: inner ? OCI_LAYER_GZIP : OCI_LAYER_TAR,
      };
    });
  } catch (error) {
    const problem = describeArchiveError(error, content.decompressedBytes());
    if (problem !== undefined) throw new InvalidLayerFileError(`layer file ${path} ${problem}`, { cause: error });
    throw error;
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];

interface ContentTap {
  /** Passes the file's bytes through unchanged. */
  readonly stream: Transform;
  /** The hash of the gunzipped content once the stream has ended, or `null` for a file that is not gzip. */
  gunzipped(): { digest(): string; size(): number } | null;
  decompressedBytes(): number;
}

/**
 * Sniffs the gzip magic in the first bytes; for a gzip file, also feeds every byte to a gunzip
 * whose output is hashed, holding the copy back while the gunzip is behind so memory stays flat.
 */
function createContentTap(): ContentTap {
  let head: Buffer | null = Buffer.alloc(0);
  let gzip: boolean | null = null;
  let decompressed = 0;
  const gunzip = createGunzip();
  const inner = createDigestTap();
  let innerDone: Promise<void> | null = null;

  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let compressed = chunk;
      if (head !== null) {
        const seen = Buffer.concat([head, chunk]);
        if (seen.length < GZIP_MAGIC.length) {
          head = seen;
          callback(null, chunk);
          return;
        }
        head = null;
        gzip = GZIP_MAGIC.every((byte, index) => seen[index] === byte);
        if (gzip) startGunzip();
        compressed = seen;
      }
      if (!gzip) {
        callback(null, chunk);
        return;
      }
      this.push(chunk);
      if (gunzip.write(compressed)) callback();
      else gunzip.once('drain', () => callback());
    },
    flush(callback) {
      if (innerDone === null) {
        callback();
        return;
      }
      gunzip.end();
      innerDone.then(() => callback(), callback);
    },
    destroy(error, callback) {
      gunzip.destroy();
      callback(error);
    },
  });

  const startGunzip = (): void => {
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    const meter = createByteMeter((total) => {
      decompressed = total;
    });
    innerDone = pipeline(gunzip, meter, inner.stream, discard);
    // A corrupt gzip fails the copy at once rather than after the whole file was read.
    innerDone.catch((error: unknown) => stream.destroy(error as Error));
  };

  return { stream, gunzipped: () => (gzip ? inner : null), decompressedBytes: () => decompressed };
}
