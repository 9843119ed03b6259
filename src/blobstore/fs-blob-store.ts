/**
 * The filesystem blobstore (zero-configuration runs, single-host deployments): distribution's
 * filesystem driver, with its atomic-rename commit.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { addAbortSignal, type Readable } from 'node:stream';
import { FileReadStream } from './file-read-stream.ts';
import { blobKey, newStagingKey, STAGING_PREFIX } from './blob-keys.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from './blob-store.ts';

/**
 * Bytes buffered per staged write: each fs call is a thread-pool round trip, so writes are large
 * (served blobs are read in chunks of the same size: file-read-stream.ts).
 */
const STREAM_BUFFER_BYTES = 1024 * 1024;

export interface FsBlobStoreOptions {
  /** Directory holding `blobs/` and `staging/`; created on first write. */
  readonly root: string;
}

/**
 * Blobs as files under `<root>/blobs/sha256/<hex>`, written under `<root>/staging/<uuid>` and
 * renamed into place once complete and fsynced, so a reader never sees a partial blob and a crash
 * leaves at most a staged file for `sweepStaging`.
 */
export class FsBlobStore implements BlobStore {
  readonly #root: string;

  constructor(options: FsBlobStoreOptions) {
    this.#root = options.root;
  }

  async stage(options: { signal?: AbortSignal } = {}): Promise<StagedBlob> {
    options.signal?.throwIfAborted();
    const path = this.#path(newStagingKey());
    await mkdir(dirname(path), { recursive: true });
    // `wx`: never shares a file with another write; `flush`: fsync before 'close', so the bytes
    // are on disk before commit renames them into place.
    const writable = createWriteStream(path, { flags: 'wx', flush: true, highWaterMark: STREAM_BUFFER_BYTES, signal: options.signal });
    // A failed write is reported by `commit`; it must not also crash a caller that did not listen.
    writable.on('error', () => undefined);
    return new FsStagedBlob(path, writable, (digest) => this.#blobPath(digest));
  }

  async stat(digest: string): Promise<BlobStat | null> {
    const path = this.#blobPath(digest);
    try {
      return { size: (await stat(path)).size };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async open(digest: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const path = this.#blobPath(digest);
    options.signal?.throwIfAborted();
    // Opened before returning, so a missing blob is an error here rather than on the stream.
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw isNotFound(error) ? new BlobNotFoundError(digest) : error;
    });
    const stream = new FileReadStream(handle, options.range ?? { start: 0, end: Number.POSITIVE_INFINITY });
    return options.signal ? addAbortSignal(options.signal, stream) : stream;
  }

  async put(digest: string, bytes: Buffer): Promise<void> {
    const target = this.#blobPath(digest);
    if (await exists(target)) return;
    const staged = this.#path(newStagingKey());
    await mkdir(dirname(staged), { recursive: true });
    try {
      await writeFile(staged, bytes, { flag: 'wx', flush: true });
      await publish(staged, target);
    } catch (error) {
      await unlinkIfPresent(staged);
      throw error;
    }
  }

  async delete(digest: string): Promise<void> {
    await unlinkIfPresent(this.#blobPath(digest));
  }

  async sweepStaging(olderThanMs: number): Promise<number> {
    const directory = this.#path(STAGING_PREFIX);
    const names = await readdir(directory).catch((error: unknown) => {
      if (isNotFound(error)) return [];
      throw error;
    });
    const cutoff = Date.now() - olderThanMs;
    let swept = 0;
    for (const name of names) {
      const path = join(directory, name);
      const modified = await stat(path).then(
        (stats) => stats.mtimeMs,
        (error: unknown) => {
          if (isNotFound(error)) return null; // committed or cancelled meanwhile
          throw error;
        },
      );
      if (modified !== null && modified <= cutoff && (await unlinkIfPresent(path))) swept += 1;
    }
    return swept;
  }

  async redirectUrl(digest: string): Promise<string | null> {
    blobKey(digest);
    return null;
  }

  #blobPath(digest: string): string {
    return this.#path(blobKey(digest));
  }

  #path(key: string): string {
    return join(this.#root, ...key.split('/'));
  }
}

class FsStagedBlob implements StagedBlob {
  readonly writable: WriteStream;
  readonly #path: string;
  readonly #blobPath: (digest: string) => string;

  constructor(path: string, writable: WriteStream, blobPath: (digest: string) => string) {
    this.#path = path;
    this.writable = writable;
    this.#blobPath = blobPath;
  }

  async commit(digest: string): Promise<void> {
    const target = this.#blobPath(digest);
    const { writable } = this;
    if (!writable.writableEnded && !writable.destroyed) {
      throw new Error('cannot commit a staged blob while it is still being written: end its writable first');
    }
    await closed(writable);
    if (writable.errored) throw new Error('cannot commit a staged blob whose write failed', { cause: writable.errored });
    if (!writable.writableFinished) throw new Error('cannot commit a staged blob whose write was abandoned');
    await publish(this.#path, target);
  }

  async cancel(): Promise<void> {
    // Waits for the file to be closed: the stream opens it asynchronously, and an unlink that ran
    // before the open would leave the file behind.
    this.writable.destroy();
    await closed(this.writable);
    await unlinkIfPresent(this.#path);
  }
}

/**
 * Moves a complete, synced staged file to `target`. An existing target already holds these bytes
 * (same digest), so the staged copy is dropped instead.
 */
async function publish(staged: string, target: string): Promise<void> {
  if (await exists(target)) {
    await unlinkIfPresent(staged);
    return;
  }
  await mkdir(dirname(target), { recursive: true });
  await rename(staged, target);
}

/** Resolves once the stream has released its file descriptor (fs streams always emit 'close'). */
function closed(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** Unlinks `path`; false when it was already gone. */
async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
