/**
 * The writable that remote staged blobs (S3, WebDAV) hand out. Bytes go to the request body
 * (`sink`); the writable finishes only once the store has acknowledged the whole write
 * (`landed`), so — as with the filesystem store's fsync — a finished writable means the staged
 * object exists, and a failed request surfaces as an error on the writable rather than at commit.
 */
import { Writable } from 'node:stream';

export class RemoteWritable extends Writable {
  readonly #sink: Writable;
  readonly #landed: Promise<void>;
  #settled = false;
  #bytesWritten = 0;
  /** The callback of a write waiting for the sink to drain. */
  #waiting: ((error?: Error | null) => void) | null = null;

  constructor(sink: Writable, landed: Promise<void>) {
    super();
    this.#sink = sink;
    this.#landed = landed;
    // The request reports its own failure through `landed`; its stream errors add nothing.
    sink.on('error', () => undefined);
    sink.on('drain', () => this.#release(null));
    landed.then(
      () => {
        this.#settled = true;
        this.#release(new Error('the blobstore answered before the staged write ended'));
      },
      (error: Error) => {
        this.#settled = true;
        this.#release(error);
        this.destroy(error);
      },
    );
  }

  /** Bytes accepted so far: the staged object's size once the writable has finished. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#bytesWritten += chunk.length;
    if (this.#sink.write(chunk, encoding)) callback();
    else this.#waiting = callback;
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sink.end();
    this.#landed.then(() => callback(), callback);
  }

  /** Aborts the request if it is still running and reports 'close' only once the store has answered. */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#settled) this.#sink.destroy(error ?? new Error('staged write abandoned'));
    this.#release(error ?? new Error('staged write abandoned'));
    this.#landed.then(
      () => callback(error),
      () => callback(error),
    );
  }

  #release(error: Error | null): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(error);
  }
}

