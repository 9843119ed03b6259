/**
 * A BlobStore that counts and times every call of the one it wraps (whichever: fs, s3, webdav),
 * so operators see blobstore latency and errors without each store knowing about metrics.
 * Behaviour is the wrapped store's: results and errors pass through unchanged.
 */
import type { Readable } from 'node:stream';
import type { BlobStoreMetrics, BlobStoreOperation, BlobStoreOutcome } from '../metrics/blobstore-metrics.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from './blob-store.ts';

export class InstrumentedBlobStore implements BlobStore {
  readonly #store: BlobStore;
  readonly #metrics: BlobStoreMetrics;

  constructor(store: BlobStore, metrics: BlobStoreMetrics) {
    this.#store = store;
    this.#metrics = metrics;
  }

  async stage(options?: { signal?: AbortSignal }): Promise<StagedBlob> {
    const staged = await this.#timed('stage', () => this.#store.stage(options));
    this.#metrics.watchWrite(staged.writable);
    return {
      writable: staged.writable,
      commit: (digest) => this.#timed('commit', () => staged.commit(digest)),
      cancel: () => this.#timed('cancel', () => staged.cancel()),
    };
  }

  stat(digest: string): Promise<BlobStat | null> {
    return this.#timed('stat', () => this.#store.stat(digest), (stat) => (stat === null ? 'not_found' : 'ok'));
  }

  open(digest: string, options?: { range?: ByteRange; signal?: AbortSignal }): Promise<Readable> {
    return this.#timed('open', () => this.#store.open(digest, options));
  }

  put(digest: string, bytes: Buffer): Promise<void> {
    return this.#timed('put', () => this.#store.put(digest, bytes));
  }

  delete(digest: string): Promise<void> {
    return this.#timed('delete', () => this.#store.delete(digest));
  }

  sweepStaging(olderThanMs: number): Promise<number> {
    return this.#timed('sweep_staging', () => this.#store.sweepStaging(olderThanMs));
  }

  redirectUrl(digest: string): Promise<string | null> {
    return this.#timed('redirect_url', () => this.#store.redirectUrl(digest));
  }

  async #timed<T>(operation: BlobStoreOperation, call: () => Promise<T>, outcomeOf: (result: T) => BlobStoreOutcome = () => 'ok'): Promise<T> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const result = await call();
      this.#metrics.record(operation, outcomeOf(result), seconds());
      return result;
    } catch (error) {
      // An absent blob is an answer, not a failure of the store.
      const absent = error instanceof BlobNotFoundError;
      this.#metrics.record(operation, absent ? 'not_found' : 'error', seconds());
      if (!absent) this.#metrics.markFailure(error);
      throw error;
    }
  }
}
