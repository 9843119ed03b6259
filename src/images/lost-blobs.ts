/**
 * Blobs this instance found missing from the blobstore while the database still lists them (a file
 * deleted by hand, a bucket lifecycle rule, a restore from an older backup). Until the store has
 * such a blob again its HEAD and GET answer BLOB_UNKNOWN, not the size the database recorded: a
 * request for a blob known lost asks the store (one stat), and no other request does.
 */
import type { BlobStore } from '../blobstore/blob-store.ts';

/** Digests remembered at most; past it the oldest is forgotten (its requests then go by the database again). */
const MAX_LOST_BLOBS = 10_000;

export class LostBlobs {
  readonly #blobs: BlobStore;
  /** In insertion order, oldest first. */
  readonly #lost = new Set<string>();

  constructor(blobs: BlobStore) {
    this.#blobs = blobs;
  }

  /** Remembers that the store lacks `digest`. */
  add(digest: string): void {
    this.#lost.delete(digest);
    this.#lost.add(digest);
    if (this.#lost.size > MAX_LOST_BLOBS) this.#lost.delete(this.#lost.values().next().value as string);
  }

  /** Whether `digest` was found missing and the store still lacks it; forgets it once the store has it again. */
  async isMissing(digest: string): Promise<boolean> {
    if (!this.#lost.has(digest)) return false;
    if ((await this.#blobs.stat(digest)) === null) return true;
    this.#lost.delete(digest);
    return false;
  }
}
