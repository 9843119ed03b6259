/**
 * A fault injector around a real BlobStore: the test arms a failure (the Nth staged write breaks
 * after K bytes, the Nth commit or small `put` fails) and everything else goes to the real store,
 * so what a failure leaves behind is what that store really leaves behind.
 */
import { Writable } from 'node:stream';
import type { BlobStat, BlobStore, ByteRange, StagedBlob } from '../../src/blobstore/blob-store.ts';

/** What the armed fault looks like to the registry: an I/O error of the store. */
export class InjectedBlobStoreError extends Error {
  readonly code = 'EIO';

  constructor(what: string) {
    super(`injected blobstore failure: ${what}`);
    this.name = 'InjectedBlobStoreError';
  }
}

interface Armed {
  /** Operations of this kind still to let through before failing one. */
  skip: number;
  readonly afterBytes: number;
}

export class FaultyBlobStore implements BlobStore {
  readonly #store: BlobStore;
  #write: Armed | null = null;
  #commit: Armed | null = null;
  #put: Armed | null = null;
  /** Faults that went off so far, so a test can tell its fault was really hit. */
  readonly fired: string[] = [];

  constructor(store: BlobStore) {
    this.#store = store;
  }

  /** The `nth` staged write from now (1: the next) fails once `afterBytes` bytes went through. */
  failWrite(nth: number, afterBytes: number): void {
    this.#write = { skip: nth - 1, afterBytes };
  }

  /** The `nth` commit from now fails (the bytes were all written). */
  failCommit(nth: number): void {
    this.#commit = { skip: nth - 1, afterBytes: 0 };
  }

  /** The `nth` small write (`put`: image configs) from now fails. */
  failPut(nth: number): void {
    this.#put = { skip: nth - 1, afterBytes: 0 };
  }

  /** Disarms every fault. */
  heal(): void {
    this.#write = this.#commit = this.#put = null;
  }

  async stage(options?: { signal?: AbortSignal }): Promise<StagedBlob> {
    const staged = await this.#store.stage(options);
    const writeFault = this.#take('write');
    const commitFault = this.#take('commit');
    const writable = writeFault === null ? staged.writable : this.#breakingWritable(staged.writable, writeFault.afterBytes);
    return {
      writable,
      commit: async (digest) => {
        if (commitFault !== null) {
          this.fired.push('commit');
          throw new InjectedBlobStoreError(`commit of ${digest}`);
        }
        await staged.commit(digest);
      },
      cancel: () => staged.cancel(),
    };
  }

  stat(digest: string): Promise<BlobStat | null> {
    return this.#store.stat(digest);
  }

  open(digest: string, options?: { range?: ByteRange; signal?: AbortSignal }) {
    return this.#store.open(digest, options);
  }

  async put(digest: string, bytes: Buffer): Promise<void> {
    if (this.#take('put') !== null) {
      this.fired.push('put');
      throw new InjectedBlobStoreError(`put of ${digest}`);
    }
    await this.#store.put(digest, bytes);
  }

  delete(digest: string): Promise<void> {
    return this.#store.delete(digest);
  }

  sweepStaging(olderThanMs: number): Promise<number> {
    return this.#store.sweepStaging(olderThanMs);
  }

  redirectUrl(digest: string): Promise<string | null> {
    return this.#store.redirectUrl(digest);
  }

  /** The armed fault of this kind if this operation is the one to fail (consuming it). */
  #take(kind: 'write' | 'commit' | 'put'): Armed | null {
    const armed = kind === 'write' ? this.#write : kind === 'commit' ? this.#commit : this.#put;
    if (armed === null) return null;
    if (armed.skip > 0) {
      armed.skip -= 1;
      return null;
    }
    if (kind === 'write') this.#write = null;
    else if (kind === 'commit') this.#commit = null;
    else this.#put = null;
    return armed;
  }

  /** Passes bytes to the real staged write until `afterBytes`, then fails as a disk or network would. */
  #breakingWritable(target: Writable, afterBytes: number): Writable {
    let written = 0;
    const fired = this.fired;
    return new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (written + chunk.length > afterBytes) {
          fired.push('write');
          // The real store's write is abandoned the way a failed one is: destroyed, then cancelled by the registry.
          target.destroy();
          callback(new InjectedBlobStoreError(`write after ${afterBytes} bytes`));
          return;
        }
        written += chunk.length;
        if (target.write(chunk)) callback();
        else target.once('drain', () => callback());
      },
      final(callback) {
        target.end(() => callback());
      },
      destroy(error, callback) {
        if (!target.destroyed && error) target.destroy();
        callback(error);
      },
    });
  }
}
