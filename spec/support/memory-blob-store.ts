/**
 * An in-memory BlobStore for tests, faithful to the contract (it passes
 * `blob-store-contract.ts`): staged bytes are invisible until `commit`, `cancel` leaves nothing,
 * committing an existing digest is a no-op, malformed digests are refused everywhere. It also lets a test
 * see what a failed operation left behind (`digests()`, `stagedCount()`).
 */
import { Readable, Writable } from 'node:stream';
import { blobKey, newStagingKey } from '../../src/blobstore/blob-keys.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from '../../src/blobstore/blob-store.ts';

interface StagedWrite {
  readonly chunks: Buffer[];
  readonly createdAt: number;
  finished: boolean;
}

/** The BlobStore contract kept in a Map; one instance per test. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Buffer>();
  readonly #staging = new Map<string, StagedWrite>();

  async stage(options: { signal?: AbortSignal } = {}): Promise<StagedBlob> {
    options.signal?.throwIfAborted();
    const key = newStagingKey();
    const staged: StagedWrite = { chunks: [], createdAt: Date.now(), finished: false };
    this.#staging.set(key, staged);
    const writable = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        staged.chunks.push(chunk);
        callback();
      },
      final(callback) {
        staged.finished = true;
        callback();
      },
    });
    return {
      writable,
      commit: async (digest) => {
        blobKey(digest);
        if (this.#staging.get(key) !== staged) throw new Error(`${key} was already committed or cancelled`);
        if (!staged.finished) throw new Error(`${key} is committed before its writable finished`);
        this.#staging.delete(key);
        if (!this.#blobs.has(digest)) this.#blobs.set(digest, Buffer.concat(staged.chunks));
      },
      cancel: async () => {
        this.#staging.delete(key);
        writable.destroy();
      },
    };
  }

  async stat(digest: string): Promise<BlobStat | null> {
    blobKey(digest);
    const bytes = this.#blobs.get(digest);
    return bytes ? { size: bytes.length } : null;
  }

  async open(digest: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    blobKey(digest);
    const bytes = this.#blobs.get(digest);
    if (!bytes) throw new BlobNotFoundError(digest);
    const { range } = options;
    return Readable.from([range ? bytes.subarray(range.start, range.end + 1) : bytes]);
  }

  async put(digest: string, bytes: Buffer): Promise<void> {
    blobKey(digest);
    if (!this.#blobs.has(digest)) this.#blobs.set(digest, Buffer.from(bytes));
  }

  async delete(digest: string): Promise<void> {
    blobKey(digest);
    this.#blobs.delete(digest);
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let swept = 0;
    for (const [key, staged] of this.#staging) {
      if (staged.createdAt <= cutoff) {
        this.#staging.delete(key);
        swept += 1;
      }
    }
    return swept;
  }

  async redirectUrl(digest: string): Promise<string | null> {
    blobKey(digest);
    return null;
  }

  /** Every key the store holds, in the backends' layout (`blobs/sha256/<hex>`, `staging/<uuid>`), sorted. */
  keys(): string[] {
    return [...[...this.#blobs.keys()].map(blobKey), ...this.#staging.keys()].sort();
  }

  /** Digests of the committed blobs. */
  digests(): string[] {
    return [...this.#blobs.keys()];
  }

  /** The bytes of a committed blob. */
  bytes(digest: string): Buffer {
    const bytes = this.#blobs.get(digest);
    if (!bytes) throw new BlobNotFoundError(digest);
    return bytes;
  }

  /** Staged writes neither committed nor cancelled. */
  stagedCount(): number {
    return this.#staging.size;
  }
}
