/**
 * The one way conversion writes a blob: into a staged write that is committed under the digest
 * the writer computed, or cancelled on any failure, so a failed, hostile or aborted input never
 * leaves a partial blob behind.
 */
import type { Writable } from 'node:stream';
import type { BlobStore } from '../blobstore/blob-store.ts';

/** Runs `write` into a fresh staged blob, then commits it under the `digest` it returns. */
export async function writeStagedBlob<T extends { readonly digest: string }>(
  blobs: BlobStore,
  signal: AbortSignal | undefined,
  write: (writable: Writable) => Promise<T>,
): Promise<T> {
  const staged = await blobs.stage({ signal });
  try {
    const result = await write(staged.writable);
    await staged.commit(result.digest);
    return result;
  } catch (error) {
    // The write's failure is what the caller must see; a staged write that could not be
    // cancelled is left to the blobstore's sweepStaging.
    await staged.cancel().catch(() => undefined);
    throw error;
  }
}
