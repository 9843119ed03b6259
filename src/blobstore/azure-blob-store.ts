/**
 * The Azure Blob Storage blobstore, for foundations whose Cloud Controller keeps droplets there
 * (cf-deployment's use-azure-storage-blobstore.yml): blobs are block blobs in a container of the
 * registry's own, and clients fetch them straight from the storage account through read-only SAS
 * URLs for one blob that expire (distribution's azure driver, reduced).
 */
import {
  AnonymousCredential,
  BlobSASPermissions,
  ContainerClient,
  generateBlobSASQueryParameters,
  newPipeline,
  RestError,
  SASProtocol,
  StorageSharedKeyCredential,
  type BlockBlobClient,
} from '@azure/storage-blob';
import { randomBytes } from 'node:crypto';
import { addAbortSignal, PassThrough, type Readable } from 'node:stream';
import { idleTimeoutPolicy } from './azure-idle-timeout.ts';
import { blobKey, isStagingKey, newStagingKey, STAGING_PREFIX } from './blob-keys.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from './blob-store.ts';
import { RemoteStagedBlob } from './remote-staged-blob.ts';
import { RemoteWritable } from './remote-writable.ts';

export interface AzureBlobStoreOptions {
  readonly accountName: string;
  /**
   * The storage account's blob endpoint: `https://<account>.blob.core.windows.net` (the default),
   * a sovereign cloud's (`…blob.core.chinacloudapi.cn`), or Azurite's `http://127.0.0.1:10000/<account>`.
   */
  readonly endpoint?: string;
  /** Shared Key: the registry signs its own read-only SAS URLs for redirects with it. */
  readonly accountKey?: string;
  /**
   * Instead of the key, a SAS token (account or container) allowing read, add, create, write,
   * delete and list. It cannot sign narrower URLs, and handing it out would let clients write:
   * the registry then streams blob bytes itself instead of redirecting.
   */
  readonly sasToken?: string;
  /** The registry's own container; it must exist. */
  readonly container: string;
  /** Name prefix inside the container (`droplet-registry/`). */
  readonly prefix?: string;
  /** How long a redirect URL stays valid. */
  readonly sasExpirySeconds: number;
  /** Block size of staged writes; memory per write is about `blockSizeBytes × (concurrency + 1)`. */
  readonly blockSizeBytes?: number;
  /** Blocks uploaded at once per staged write. */
  readonly concurrency?: number;
  /** Range copied per Put Block From URL when a staged blob is committed. */
  readonly copyBlockBytes?: number;
  /** A connection that sends and receives nothing for this long is dropped (the SDK retries). */
  readonly requestIdleTimeoutMs?: number;
}

const MiB = 1024 * 1024;
const DEFAULT_BLOCK_SIZE = 8 * MiB;
const DEFAULT_CONCURRENCY = 2;
/** Put Block From URL takes up to 4000 MiB per call; smaller ranges keep each call short. */
const DEFAULT_COPY_BLOCK_BYTES = 100 * MiB;
/** A block blob holds at most 50,000 blocks. */
const MAX_BLOCKS = 50_000;
/** Long enough for a server-side copy of a 100 MiB range, which answers only when done. */
const DEFAULT_REQUEST_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const MAX_TRIES = 3;
/** The staging blob's own SAS, for Put Block From URL: long enough for the copy of any blob. */
const COPY_SOURCE_SAS_SECONDS = 60 * 60;
const CONTENT_TYPE = 'application/octet-stream';

/**
 * Blobs as block blobs under `<prefix>blobs/sha256/<hex>`. A staged write uploads blocks to
 * `<prefix>staging/<uuid>` and commits their list when the stream ends; `commit` copies it into
 * place range by range (Put Block From URL) and commits the target's block list in one call, so the
 * blob appears whole or not at all, then deletes the staged blob.
 */
export class AzureBlobStore implements BlobStore {
  readonly #container: ContainerClient;
  readonly #credential: StorageSharedKeyCredential | null;
  readonly #containerName: string;
  readonly #prefix: string;
  readonly #sasExpirySeconds: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  readonly #copyBlockBytes: number;

  constructor(options: AzureBlobStoreOptions) {
    const { accountName, accountKey, sasToken } = options;
    if (!/^[a-z0-9]{3,24}$/.test(accountName)) {
      throw new TypeError(`Azure blobstore: accountName must be a storage account name (3 to 24 lower-case letters and digits), not ${JSON.stringify(accountName)}`);
    }
    if ((accountKey === undefined) === (sasToken === undefined)) throw new TypeError('Azure blobstore: give accountKey or sasToken, one of them');
    if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(options.container)) {
      throw new TypeError(`Azure blobstore: container must be a container name (3 to 63 lower-case letters, digits and single hyphens), not ${JSON.stringify(options.container)}`);
    }
    const expiry = options.sasExpirySeconds;
    if (!Number.isInteger(expiry) || expiry < 1) throw new RangeError(`Azure blobstore: sasExpirySeconds must be a positive integer, not ${expiry}`);
    this.#containerName = options.container;
    this.#prefix = normalisePrefix(options.prefix ?? '');
    this.#sasExpirySeconds = expiry;
    this.#blockSize = options.blockSizeBytes ?? DEFAULT_BLOCK_SIZE;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.#copyBlockBytes = options.copyBlockBytes ?? DEFAULT_COPY_BLOCK_BYTES;
    const endpoint = (options.endpoint ?? `https://${accountName}.blob.core.windows.net`).replace(/\/+$/, '');
    this.#credential = accountKey === undefined ? null : new StorageSharedKeyCredential(accountName, accountKey);
    const pipeline = newPipeline(this.#credential ?? new AnonymousCredential(), { retryOptions: { maxTries: MAX_TRIES } });
    pipeline.factories.push(idleTimeoutPolicy(options.requestIdleTimeoutMs ?? DEFAULT_REQUEST_IDLE_TIMEOUT_MS));
    const containerUrl = `${endpoint}/${options.container}`;
    this.#container = new ContainerClient(sasToken === undefined ? containerUrl : `${containerUrl}?${sasToken.replace(/^\?/, '')}`, pipeline);
  }

  async stage(options: { signal?: AbortSignal } = {}): Promise<StagedBlob> {
    options.signal?.throwIfAborted();
    const key = this.#key(newStagingKey());
    const client = this.#container.getBlockBlobClient(key);
    const body = new PassThrough();
    // Stops the block uploads under way when the write is abandoned, so none lands after discard.
    const abort = new AbortController();
    body.once('error', () => abort.abort());
    const landed = client
      .uploadStream(body, this.#blockSize, this.#concurrency, { abortSignal: abort.signal, blobHTTPHeaders: { blobContentType: CONTENT_TYPE } })
      .then(() => undefined, (error: unknown) => Promise.reject(this.#explain(error)));
    const writable = new RemoteWritable(body, landed);
    // A failed write is reported by `commit`; it must not also crash a caller that did not listen.
    writable.on('error', () => undefined);
    if (options.signal) addAbortSignal(options.signal, writable);
    return new RemoteStagedBlob(writable, {
      publish: (digest) => this.#publish(client, this.#key(blobKey(digest)), writable.bytesWritten),
      discard: () => this.#discard(key),
    });
  }

  async stat(digest: string): Promise<BlobStat | null> {
    try {
      const { contentLength } = await this.#container.getBlobClient(this.#key(blobKey(digest))).getProperties();
      return { size: contentLength ?? 0 };
    } catch (error) {
      if (isBlobMissing(error)) return null;
      throw this.#explain(error);
    }
  }

  async open(digest: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const { range, signal } = options;
    try {
      const client = this.#container.getBlobClient(this.#key(blobKey(digest)));
      const response = await client.download(range?.start ?? 0, range ? range.end - range.start + 1 : undefined, { abortSignal: signal });
      if (!response.readableStreamBody) throw new Error(`Azure Blob Storage returned no body for ${digest}`);
      return response.readableStreamBody as Readable;
    } catch (error) {
      if (isBlobMissing(error)) throw new BlobNotFoundError(digest);
      throw this.#explain(error);
    }
  }

  /** A single Put Blob is atomic (the blob appears whole or not at all), so it needs no staging. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const key = this.#key(blobKey(digest));
    try {
      await this.#container.getBlockBlobClient(key).upload(bytes, bytes.length, {
        blobHTTPHeaders: { blobContentType: CONTENT_TYPE },
        conditions: { ifNoneMatch: '*' },
      });
    } catch (error) {
      if (!isAlreadyThere(error)) throw this.#explain(error);
    }
  }

  async delete(digest: string): Promise<void> {
    try {
      await this.#container.getBlobClient(this.#key(blobKey(digest))).deleteIfExists();
    } catch (error) {
      throw this.#explain(error);
    }
  }

  /** Discards staged blobs older than the limit, also those a crashed writer left as uncommitted blocks only. */
  async sweepStaging(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    let swept = 0;
    try {
      for await (const blob of this.#container.listBlobsFlat({ prefix: this.#key(STAGING_PREFIX), includeUncommitedBlobs: true })) {
        if (!isStagingKey(blob.name.slice(this.#prefix.length)) || (blob.properties.lastModified?.getTime() ?? Infinity) > cutoff) continue;
        await this.#discard(blob.name);
        swept += 1;
      }
    } catch (error) {
      throw this.#explain(error);
    }
    return swept;
  }

  /**
   * A SAS URL for this one blob, read only, expiring after `sasExpirySeconds`; signed with the
   * account key, which never leaves the registry. With a SAS token instead of the key: `null`, the
   * registry streams the bytes.
   */
  async redirectUrl(digest: string): Promise<string | null> {
    const client = this.#container.getBlobClient(this.#key(blobKey(digest)));
    if (this.#credential === null) return null;
    return `${client.url}?${this.#readSas(client.name, this.#sasExpirySeconds, client.url)}`;
  }

  /**
   * Copies the staged blob under its digest (unless already there) and deletes the staged blob.
   * The target's blocks stay invisible until its block list is committed, which fails harmlessly
   * when another instance committed the same digest first.
   */
  async #publish(staged: BlockBlobClient, target: string, size: number): Promise<void> {
    try {
      const targetClient = this.#container.getBlockBlobClient(target);
      if (!(await targetClient.exists())) {
        const source = this.#credential === null ? staged.url : `${staged.url}?${this.#readSas(staged.name, COPY_SOURCE_SAS_SECONDS, staged.url)}`;
        // One id length per blob (Azure's rule); a random run id keeps concurrent commits apart.
        const run = randomBytes(12).toString('hex');
        const blockIds: string[] = [];
        for (const [index, range] of blockRanges(size, this.#copyBlockBytes).entries()) {
          const blockId = Buffer.from(`${run}-${String(index).padStart(5, '0')}`).toString('base64');
          await targetClient.stageBlockFromURL(blockId, source, range.start, range.end - range.start + 1);
          blockIds.push(blockId);
        }
        try {
          await targetClient.commitBlockList(blockIds, { blobHTTPHeaders: { blobContentType: CONTENT_TYPE }, conditions: { ifNoneMatch: '*' } });
        } catch (error) {
          if (!isAlreadyThere(error)) throw error;
        }
      }
      await staged.deleteIfExists();
    } catch (error) {
      throw this.#explain(error);
    }
  }

  /** Removes a staged blob, committed or not: Delete Blob also drops the uncommitted blocks of a write cut short. */
  async #discard(key: string): Promise<void> {
    try {
      await this.#container.getBlobClient(key).deleteIfExists();
    } catch (error) {
      throw this.#explain(error);
    }
  }

  #readSas(blobName: string, seconds: number, url: string): string {
    if (this.#credential === null) throw new Error('Azure blobstore: signing needs the account key');
    return generateBlobSASQueryParameters(
      {
        containerName: this.#containerName,
        blobName,
        permissions: BlobSASPermissions.parse('r'),
        expiresOn: new Date(Date.now() + seconds * 1000),
        protocol: url.startsWith('https:') ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
      },
      this.#credential,
    ).toString();
  }

  /** The SDK's errors, with what the operator can do about the common ones. */
  #explain(error: unknown): unknown {
    if (!(error instanceof RestError)) return error;
    const code = errorCodeOf(error) ?? error.code;
    const where = `container ${this.#containerName} of ${new URL(this.#container.url).origin}`;
    if (code === 'ContainerNotFound') {
      return new Error(`Azure Blob Storage: ${where} does not exist; create it (e.g. \`az storage container create --name ${this.#containerName}\`) or set AZURE_CONTAINER`, { cause: error });
    }
    if (error.statusCode === 403) {
      return new Error(`Azure Blob Storage refused the registry's credentials for ${where} (${code ?? 403}): check AZURE_ACCOUNT_NAME with AZURE_ACCOUNT_KEY, or AZURE_SAS_TOKEN and its permissions (racwdl) and expiry`, { cause: error });
    }
    return error;
  }

  #key(key: string): string {
    return `${this.#prefix}${key}`;
  }
}

/** Consecutive inclusive ranges of at most `blockBytes` covering `size` bytes; none for an empty blob. */
function blockRanges(size: number, blockBytes: number): ByteRange[] {
  const count = Math.ceil(size / blockBytes);
  if (count > MAX_BLOCKS) throw new RangeError(`${size} bytes in blocks of ${blockBytes} would need ${count} blocks; a block blob holds ${MAX_BLOCKS}`);
  return Array.from({ length: count }, (_, index) => ({ start: index * blockBytes, end: Math.min(size, (index + 1) * blockBytes) - 1 }));
}

/** Azure's error code (`BlobNotFound`, `ContainerNotFound`, …), from the body or the x-ms-error-code header. */
function errorCodeOf(error: RestError): string | undefined {
  return (error.details as { errorCode?: string } | undefined)?.errorCode;
}

function isBlobMissing(error: unknown): boolean {
  return error instanceof RestError && error.statusCode === 404 && errorCodeOf(error) !== 'ContainerNotFound';
}

/** A write conditioned on If-None-Match: * met a blob already there (409 BlobAlreadyExists, or 412). */
function isAlreadyThere(error: unknown): boolean {
  return error instanceof RestError && ((error.statusCode === 409 && errorCodeOf(error) === 'BlobAlreadyExists') || error.statusCode === 412);
}

/** `a/b`, `/a/b/` → `a/b/`; empty stays empty. */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}
