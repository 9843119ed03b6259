import type { Readable, Writable } from 'node:stream';

/** A byte range, both ends inclusive, as in an HTTP `Range` header. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface BlobStat {
  readonly size: number;
}

/**
 * A write in progress under `staging/<uuid>`. It becomes visible only through `commit`, which
 * moves it to `blobs/sha256/<hex>` whole; `cancel` (or a crash) leaves nothing under `blobs/`.
 */
export interface StagedBlob {
  /** Where the bytes go. The caller ends it (or destroys it on failure) before commit/cancel. */
  readonly writable: Writable;
  /** Moves the finished bytes under the digest. Committing a digest that already exists is a no-op. */
  commit(digest: string): Promise<void>;
  /** Discards the staged bytes; safe to call after a failed write and more than once. */
  cancel(): Promise<void>;
}

/**
 * Content-addressed blob storage (distribution's storage driver, reduced to what a pull-only
 * registry needs). Digests are `sha256:<64 hex>`; implementations never trust them for paths
 * without `blobKey` validating them.
 */
export interface BlobStore {
  stage(options?: { signal?: AbortSignal }): Promise<StagedBlob>;
  /** Size of a committed blob, or `null` when it is absent. */
  stat(digest: string): Promise<BlobStat | null>;
  /** Streams a committed blob (or a range of it); rejects with `BlobNotFoundError` when absent. */
  open(digest: string, options?: { range?: ByteRange; signal?: AbortSignal }): Promise<Readable>;
  /** Writes a small blob in one call (configs); same staging guarantees as `stage`. */
  put(digest: string, bytes: Buffer): Promise<void>;
  /** Removes a committed blob; absent blobs are not an error. */
  delete(digest: string): Promise<void>;
  /** Removes staged writes older than `olderThanMs` (left by crashed processes); returns how many. */
  sweepStaging(olderThanMs: number): Promise<number>;
  /**
   * A short-lived URL the client may fetch the blob from directly, or `null` when this store
   * serves bytes itself (the filesystem store; the Azure store given a SAS token, not its key).
   */
  redirectUrl(digest: string): Promise<string | null>;
}

/** The blob is not in the store. */
export class BlobNotFoundError extends Error {
  readonly digest: string;

  constructor(digest: string) {
    super(`blob ${digest} is not in the blobstore`);
    this.digest = digest;
    this.name = 'BlobNotFoundError';
  }
}
