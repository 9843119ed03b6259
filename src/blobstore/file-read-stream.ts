/**
 * A stored blob's bytes as a Readable that hapi can also write straight to the HTTP response
 * through reused buffers. Serving a layer with `createReadStream` allocates a fresh buffer per
 * read, and at hundreds of MB/s that external memory drives the garbage collector
 * (docs/performance.md, blob GET).
 */
import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';

/** Bytes per read: each read is a thread-pool round trip, so reads are large. */
const READ_BYTES = 1024 * 1024;
/** Reads a response may have written and not yet flushed to its socket: a read overlaps the writes. */
const WRITES_IN_FLIGHT = 3;
/** Released buffers kept for the next response (the rest are left to the garbage collector). */
const POOL_LIMIT = 12;

const pool: Buffer[] = [];

function takeBuffer(): Buffer {
  return pool.pop() ?? Buffer.allocUnsafeSlow(READ_BYTES);
}

function releaseBuffer(buffer: Buffer): void {
  if (pool.length < POOL_LIMIT) pool.push(buffer);
}

/** The part of a response `writeToStream` uses: Node's `http.ServerResponse`. */
interface ResponseSink {
  readonly destroyed: boolean;
  write(chunk: Buffer, callback: (error?: Error | null) => void): boolean;
  end(): void;
  destroy(error?: Error): void;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Bytes `start..end` (inclusive; an infinite end: to the end of the file) of an open file,
 * closing it when done or destroyed. Read as a stream, every chunk is a buffer of its own. hapi
 * calls `writeToStream(response)` instead of piping when nothing sits between the payload and the
 * response (no compression, no range of its own, no `peek` listener; lib/transmit.js): there a
 * buffer goes back to the pool only once its write's callback reports it flushed to the socket,
 * so a reused buffer is never still queued for sending.
 */
export class FileReadStream extends Readable {
  readonly #handle: FileHandle;
  #position: number;
  readonly #end: number;

  constructor(handle: FileHandle, range: { start: number; end: number }) {
    super({ highWaterMark: READ_BYTES });
    this.#handle = handle;
    this.#position = range.start;
    this.#end = range.end;
  }

  override _read(): void {
    this.#readChunk(Buffer.allocUnsafeSlow(Math.max(0, Math.min(READ_BYTES, this.#end - this.#position + 1)))).then(
      (chunk) => this.push(chunk),
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#handle.close().then(
      () => callback(error),
      (closeError: unknown) => callback(error ?? (closeError as Error)),
    );
  }

  /** Writes the bytes to `response` and ends it; destroys it if the file cannot be read. */
  writeToStream(response: ResponseSink): void {
    // The response is all hapi watches here: a file that fails to close has no one else to tell.
    this.on('error', () => undefined);
    this.#writeTo(response).then(
      () => this.destroy(),
      (error: unknown) => {
        response.destroy(error as Error);
        this.destroy();
      },
    );
  }

  async #writeTo(response: ResponseSink): Promise<void> {
    let inFlight = 0;
    let closed = false;
    let wake: (() => void) | undefined;
    const settle = () => {
      wake?.();
      wake = undefined;
    };
    response.once('close', () => {
      closed = true;
      settle();
    });
    while (!closed && !response.destroyed) {
      if (inFlight >= WRITES_IN_FLIGHT) {
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      const buffer = takeBuffer();
      const chunk = await this.#readChunk(buffer);
      if (chunk === null) {
        releaseBuffer(buffer);
        response.end();
        return;
      }
      if (closed || response.destroyed) return; // the client went away during the read; the buffer was never queued
      inFlight += 1;
      response.write(chunk, (error) => {
        inFlight -= 1;
        // A failed write may leave the buffer referenced by the dead socket: never reuse it.
        if (!error) releaseBuffer(buffer);
        settle();
      });
    }
  }

  /** The next bytes read into `buffer`, or `null` at the end of the range. */
  async #readChunk(buffer: Buffer): Promise<Buffer | null> {
    const length = Math.min(buffer.length, this.#end - this.#position + 1);
    if (length <= 0) return null;
    const { bytesRead } = await this.#handle.read(buffer, 0, length, this.#position);
    if (bytesRead === 0) {
      if (this.#end === Number.POSITIVE_INFINITY) return null;
      throw new Error(`blob file ended ${this.#end - this.#position + 1} bytes early`);
    }
    this.#position += bytesRead;
    return buffer.subarray(0, bytesRead);
  }
}
