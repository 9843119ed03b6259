/**
 * A staged write on a remote store (S3, WebDAV): the store supplies how to publish the staged
 * object under a digest and how to discard it; the write-state rules that keep a failed or
 * unfinished write from ever being published are the same for both.
 */
import type { Writable } from 'node:stream';
import { blobKey } from './blob-keys.ts';
import type { StagedBlob } from './blob-store.ts';
import type { RemoteWritable } from './remote-writable.ts';

export interface StagedOperations {
  /** Moves the finished staged object under `digest` (already validated). */
  publish(digest: string): Promise<void>;
  /** Removes whatever the write left; must succeed when there is nothing left. */
  discard(): Promise<unknown>;
}

export class RemoteStagedBlob implements StagedBlob {
  readonly writable: RemoteWritable;
  readonly #operations: StagedOperations;

  constructor(writable: RemoteWritable, operations: StagedOperations) {
    this.writable = writable;
    this.#operations = operations;
  }

  async commit(digest: string): Promise<void> {
    blobKey(digest);
    const { writable } = this;
    if (!writable.writableEnded && !writable.destroyed) {
      throw new Error('cannot commit a staged blob while it is still being written: end its writable first');
    }
    await closed(writable);
    if (writable.errored) throw new Error('cannot commit a staged blob whose write failed', { cause: writable.errored });
    if (!writable.writableFinished) throw new Error('cannot commit a staged blob whose write was abandoned');
    await this.#operations.publish(digest);
  }

  async cancel(): Promise<void> {
    // Destroying aborts the store request if it is still running; 'close' comes once the store
    // has answered, so nothing can land behind the clean-up.
    this.writable.destroy();
    await closed(this.writable);
    await this.#operations.discard();
  }
}

/** Resolves once the writable has closed: for a RemoteWritable, once the store has answered. */
export function closed(writable: Writable): Promise<void> {
  if (writable.closed) return Promise.resolve();
  return new Promise((resolve) => writable.once('close', () => resolve()));
}
