/**
 * Proves that the blobstore takes writes, for `/readyz`: a store that still serves reads but refuses
 * writes (a filesystem remounted read-only or full, a bucket policy or credential that lost write
 * access) passes every read check while every conversion fails.
 */
import { finished } from 'node:stream/promises';
import type { BlobStore } from './blob-store.ts';

const PROBE_BYTES = Buffer.from('droplet-registry write probe\n');

/**
 * Writes a few bytes to a staged write (`staging/<uuid>`, the path every conversion writes through)
 * and deletes them again, so nothing is left under `blobs/`; rejects saying what the store refused.
 */
export async function probeBlobStoreWrite(blobs: BlobStore): Promise<void> {
  try {
    const staged = await blobs.stage();
    try {
      staged.writable.end(PROBE_BYTES);
      await finished(staged.writable);
    } catch (error) {
      // The refused write is what the operator must see; a staged write left behind is swept later.
      await staged.cancel().catch(() => undefined);
      throw error;
    }
    await staged.cancel();
  } catch (error) {
    throw new Error(`the blobstore refused a test write: ${(error as Error).message}`, { cause: error });
  }
}
