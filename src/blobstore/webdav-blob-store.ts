/**
 * Cloud Foundry's own WebDAV blobstore (capi-release's nginx `blobstore` job), for foundations
 * without S3: the registry keeps its blobs beside CC's droplets and packages, writing through the
 * internal `/admin/` endpoint and sending clients to the public `/read/` endpoint with secure_link
 * signed URLs, the way Cloud Controller does.
 */
import { randomUUID } from 'node:crypto';
import { addAbortSignal, type Readable } from 'node:stream';
import { BLOBS_PREFIX, blobKey, newStagingKey, STAGING_PREFIX } from './blob-keys.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from './blob-store.ts';
import { RemoteStagedBlob } from './remote-staged-blob.ts';
import { RemoteWritable } from './remote-writable.ts';
import { signedReadUrl } from './secure-link.ts';
import { WebDavClient } from './webdav-client.ts';
import { parseMultistatus } from './webdav-multistatus.ts';

export interface WebDavBlobStoreOptions {
  /** The internal server: `https://blobstore.service.cf.internal:4443`. */
  readonly privateEndpoint: string;
  /** Where clients fetch signed links: `https://blobstore.<system domain>`. */
  readonly publicEndpoint: string;
  /** One of the job's `blobstore.admin_users`. */
  readonly username: string;
  readonly password: string;
  /** The job's `blobstore.secure_link.secret`. */
  readonly secret: string;
  /** The registry's top-level directory in the blobstore, beside CC's `cc-droplets` etc. */
  readonly directoryKey: string;
  /** PEM of the CA of the internal server's certificate. */
  readonly caCert?: string;
  /** How long a redirect URL stays valid. */
  readonly linkExpirySeconds: number;
}

const STAGED_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The largest staging listing read: nginx lists a staged file in ~400 bytes, so some 80 000 of them, far more than conversions leave. */
const MAX_STAGING_LISTING_BYTES = 32 * 1024 * 1024;

/**
 * Blobs as files under `/admin/<directoryKey>/blobs/sha256/<hex>`. A staged write is a streamed
 * PUT to `staging/<uuid>`; commit copies it into place (the job allows `PUT DELETE COPY
 * PROPFIND`, not MOVE) and deletes the staged file.
 */
export class WebDavBlobStore implements BlobStore {
  readonly #client: WebDavClient;
  readonly #publicEndpoint: string;
  readonly #secret: string;
  readonly #directoryKey: string;
  readonly #linkExpirySeconds: number;

  constructor(options: WebDavBlobStoreOptions) {
    if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(options.directoryKey)) {
      throw new TypeError(`WebDAV blobstore: directoryKey must be one plain path segment, not ${JSON.stringify(options.directoryKey)}`);
    }
    if (!Number.isInteger(options.linkExpirySeconds) || options.linkExpirySeconds < 1) {
      throw new RangeError(`WebDAV blobstore: linkExpirySeconds must be a positive integer, not ${options.linkExpirySeconds}`);
    }
    this.#client = new WebDavClient({
      endpoint: options.privateEndpoint,
      username: options.username,
      password: options.password,
      caCert: options.caCert,
    });
    this.#publicEndpoint = new URL(options.publicEndpoint).origin;
    this.#secret = options.secret;
    this.#directoryKey = options.directoryKey;
    this.#linkExpirySeconds = options.linkExpirySeconds;
  }

  async stage(options: { signal?: AbortSignal } = {}): Promise<StagedBlob> {
    options.signal?.throwIfAborted();
    const path = this.#adminPath(newStagingKey());
    const { sink, landed } = this.#client.upload(path);
    const writable = new RemoteWritable(sink, landed);
    // A failed write is reported by `commit`; it must not also crash a caller that did not listen.
    writable.on('error', () => undefined);
    if (options.signal) addAbortSignal(options.signal, writable);
    // An aborted PUT leaves nothing; a finished one leaves the staged file, which discard deletes.
    return new RemoteStagedBlob(writable, {
      publish: (digest) => this.#publish(path, this.#adminPath(blobKey(digest)), writable.bytesWritten),
      discard: () => this.#deletePath(path),
    });
  }

  async stat(digest: string): Promise<BlobStat | null> {
    return this.#head(this.#adminPath(blobKey(digest)));
  }

  async open(digest: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const path = this.#adminPath(blobKey(digest));
    const { range, signal } = options;
    const headers = range ? { Range: `bytes=${range.start}-${range.end}` } : {};
    const response = await this.#client.send('GET', path, { headers, signal });
    if (response.statusCode === (range ? 206 : 200)) return response;
    response.resume();
    if (response.statusCode === 404) throw new BlobNotFoundError(digest);
    throw this.#client.error('GET', path, response);
  }

  /** nginx stores a PUT body in a temp file and renames it into place: the blob appears whole or not at all. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const path = this.#adminPath(blobKey(digest));
    if ((await this.#head(path))?.size === bytes.length) return;
    await this.#client.expect('PUT', path, [201, 204], { body: bytes, headers: { 'Content-Type': 'application/octet-stream' } });
  }

  async delete(digest: string): Promise<void> {
    await this.#deletePath(this.#adminPath(blobKey(digest)));
  }

  /** Lists the staging collection with PROPFIND (dav_ext, Depth 1) and deletes what is too old. */
  async sweepStaging(olderThanMs: number): Promise<number> {
    const collection = this.#adminPath(STAGING_PREFIX);
    const response = await this.#client.send('PROPFIND', collection, { headers: { Depth: '1' } });
    if (response.statusCode === 404) {
      response.resume();
      return 0; // nothing was ever staged
    }
    if (response.statusCode !== 207) {
      response.resume();
      throw this.#client.error('PROPFIND', collection, response);
    }
    const entries = parseMultistatus((await this.#client.readBody('PROPFIND', collection, response, MAX_STAGING_LISTING_BYTES)).toString('utf8'));
    const cutoff = Date.now() - olderThanMs;
    let swept = 0;
    for (const entry of entries) {
      const name = entry.path.slice(entry.path.lastIndexOf('/') + 1);
      if (entry.collection || !STAGED_NAME.test(name) || entry.path !== `${collection}${name}`) continue;
      if ((entry.lastModified?.getTime() ?? Infinity) > cutoff) continue;
      if (await this.#deletePath(entry.path)) swept += 1;
    }
    return swept;
  }

  async redirectUrl(digest: string): Promise<string> {
    const expires = Math.floor(Date.now() / 1000) + this.#linkExpirySeconds;
    return signedReadUrl(this.#publicEndpoint, `/${this.#directoryKey}/${blobKey(digest)}`, expires, this.#secret);
  }

  /**
   * Copies the staged file into place, unless a blob of that size is already there, then deletes
   * the staged file. nginx's COPY writes the target in place, so a copy cut short leaves a shorter
   * file: the size check makes the next commit of that digest repair it.
   */
  async #publish(staged: string, target: string, size: number): Promise<void> {
    if ((await this.#head(target))?.size !== size) {
      const copy = () => this.#client.send('COPY', staged, { headers: { Destination: target, Overwrite: 'T' } });
      let response = await copy();
      // COPY cannot create directories, and the job allows no MKCOL: the first commit into an
      // empty store fails (nginx answers 500, others 409) until a PUT has created blobs/sha256/.
      if (response.statusCode === 500 || response.statusCode === 409) {
        response.resume();
        await this.#createBlobsCollection();
        response = await copy();
      }
      response.resume();
      if (response.statusCode !== 201 && response.statusCode !== 204) throw this.#client.error('COPY', staged, response);
    }
    await this.#deletePath(staged);
  }

  /** `create_full_put_path` creates a PUT's parent directories: an empty placeholder, deleted at once. */
  async #createBlobsCollection(): Promise<void> {
    const placeholder = this.#adminPath(`${BLOBS_PREFIX}.parent-${randomUUID()}`);
    await this.#client.expect('PUT', placeholder, [201, 204], { body: Buffer.alloc(0) });
    await this.#deletePath(placeholder);
  }

  async #head(path: string): Promise<BlobStat | null> {
    const response = await this.#client.send('HEAD', path);
    response.resume();
    if (response.statusCode === 404) return null;
    if (response.statusCode !== 200) throw this.#client.error('HEAD', path, response);
    const size = Number(response.headers['content-length']);
    if (!Number.isSafeInteger(size)) throw new Error(`WebDAV blobstore gave no Content-Length for HEAD ${path}`);
    return { size };
  }

  /** Deletes a file; false when it was already gone. */
  async #deletePath(path: string): Promise<boolean> {
    return (await this.#client.expect('DELETE', path, [204, 404])) === 204;
  }

  #adminPath(key: string): string {
    return `/admin/${this.#directoryKey}/${key}`;
  }
}
