/**
 * The S3 blobstore (AWS S3 or an S3-compatible store such as MinIO or Ceph), for registries that
 * run as several instances: blobs are written once, by multipart upload, and clients fetch them
 * straight from the store through presigned URLs (distribution's s3-aws driver, reduced).
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { addAbortSignal, PassThrough, Readable } from 'node:stream';
import { BLOBS_PREFIX, blobKey, isStagingKey, newStagingKey, STAGING_PREFIX } from './blob-keys.ts';
import { BlobNotFoundError, type BlobStat, type BlobStore, type ByteRange, type StagedBlob } from './blob-store.ts';
import { copyPartRanges } from './copy-parts.ts';
import { RemoteStagedBlob } from './remote-staged-blob.ts';
import { RemoteWritable } from './remote-writable.ts';

export interface S3BlobStoreOptions {
  readonly bucket: string;
  readonly region: string;
  /** An S3-compatible store's URL (`https://minio.internal:9000`); unset for AWS itself. */
  readonly endpoint?: string;
  /** `<endpoint>/<bucket>/<key>` instead of `<bucket>.<endpoint>/<key>`: most S3-compatible stores need it. */
  readonly forcePathStyle: boolean;
  /** Static credentials; leave both unset to use the AWS default chain (environment, instance profile). */
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /**
   * The origin clients reach the store at, when it differs from `endpoint` (an internal name for the
   * registry, a public one for `docker pull`). Presigned URLs are signed for this host. Keep it off
   * subdomains of the registry's host: clients forward the registry's Bearer token to those.
   */
  readonly publicEndpoint?: string;
  /** How long a redirect URL stays valid (SigV4 allows at most 7 days). */
  readonly presignExpirySeconds: number;
  /** Key prefix inside the bucket (`droplet-registry/`), so the registry can share a bucket. */
  readonly prefix?: string;
  /**
   * Multipart part size (S3's minimum is 5 MiB). Memory per staged write is about
   * `partSizeBytes × (queueSize + 1)`, whatever the blob's size; 10,000 parts cap the blob size.
   */
  readonly partSizeBytes?: number;
  /** Parts uploaded at once per staged write. */
  readonly queueSize?: number;
  /** Largest object committed with one CopyObject (S3's limit is 5 GiB); larger ones are copied in parts. */
  readonly maxCopyObjectBytes?: number;
  /** Part size for those multipart copies. */
  readonly copyPartBytes?: number;
  /**
   * A request whose connection is not made within this time, or that then sends and receives
   * nothing for this long, fails (the SDK retries it). Without it a store that takes a request and
   * never answers would hold a conversion or a pull for good.
   */
  readonly requestIdleTimeoutMs?: number;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const DEFAULT_PART_SIZE = 8 * MiB;
const DEFAULT_QUEUE_SIZE = 2;
/** Long enough for a store busy with a server-side copy of gigabytes, which answers only when done. */
const DEFAULT_REQUEST_IDLE_TIMEOUT_MS = 10 * 60 * 1000;
const CONNECTION_TIMEOUT_MS = 10_000;
const MAX_PRESIGN_EXPIRY_SECONDS = 7 * 24 * 60 * 60;
const CONTENT_TYPE = 'application/octet-stream';

/**
 * Blobs as objects under `<prefix>blobs/sha256/<hex>`. A staged write is a multipart upload to
 * `<prefix>staging/<uuid>` (parts buffered one queue at a time, never the whole blob), committed by
 * a server-side copy; an unfinished upload is aborted by `cancel` or, after a crash, by
 * `sweepStaging`.
 */
export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #presigner: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #presignExpirySeconds: number;
  readonly #partSize: number;
  readonly #queueSize: number;
  readonly #maxCopyObjectBytes: number;
  readonly #copyPartBytes: number;

  constructor(options: S3BlobStoreOptions) {
    if ((options.accessKeyId === undefined) !== (options.secretAccessKey === undefined)) {
      throw new TypeError('S3 blobstore: set both accessKeyId and secretAccessKey, or neither');
    }
    const expiry = options.presignExpirySeconds;
    if (!Number.isInteger(expiry) || expiry < 1 || expiry > MAX_PRESIGN_EXPIRY_SECONDS) {
      throw new RangeError(`S3 blobstore: presignExpirySeconds must be 1…${MAX_PRESIGN_EXPIRY_SECONDS}, not ${expiry}`);
    }
    this.#bucket = options.bucket;
    this.#prefix = normalisePrefix(options.prefix ?? '');
    this.#presignExpirySeconds = expiry;
    this.#partSize = options.partSizeBytes ?? DEFAULT_PART_SIZE;
    this.#queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    if (!Number.isSafeInteger(this.#partSize) || this.#partSize < 5 * MiB) {
      throw new RangeError(`S3 blobstore: partSizeBytes must be at least 5 MiB (S3's minimum part), not ${this.#partSize}`);
    }
    if (!Number.isInteger(this.#queueSize) || this.#queueSize < 1) throw new RangeError(`S3 blobstore: queueSize must be at least 1, not ${this.#queueSize}`);
    this.#maxCopyObjectBytes = options.maxCopyObjectBytes ?? 5 * GiB;
    this.#copyPartBytes = options.copyPartBytes ?? GiB;
    this.#client = s3Client(options, options.endpoint);
    this.#presigner = options.publicEndpoint ? s3Client(options, options.publicEndpoint) : this.#client;
  }

  async stage(options: { signal?: AbortSignal } = {}): Promise<StagedBlob> {
    options.signal?.throwIfAborted();
    const key = this.#key(newStagingKey());
    const body = new PassThrough();
    const upload = new Upload({
      client: this.#client,
      params: { Bucket: this.#bucket, Key: key, Body: body, ContentType: CONTENT_TYPE },
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      // `cancel` and `sweepStaging` abort unfinished uploads; one owner for that clean-up.
      leavePartsOnError: true,
    });
    const writable = new RemoteWritable(body, upload.done().then(() => undefined));
    // A failed write is reported by `commit`; it must not also crash a caller that did not listen.
    writable.on('error', () => undefined);
    if (options.signal) addAbortSignal(options.signal, writable);
    return new RemoteStagedBlob(writable, {
      publish: (digest) => this.#publish(key, this.#key(blobKey(digest)), writable.bytesWritten),
      discard: async () => {
        if (!writable.writableFinished && upload.uploadId !== undefined) await this.#abortUpload(key, upload.uploadId);
        await this.#deleteKey(key);
      },
    });
  }

  async stat(digest: string): Promise<BlobStat | null> {
    return this.#head(this.#key(blobKey(digest)));
  }

  async open(digest: string, options: { range?: ByteRange; signal?: AbortSignal } = {}): Promise<Readable> {
    const key = this.#key(blobKey(digest));
    const range = options.range ? `bytes=${options.range.start}-${options.range.end}` : undefined;
    try {
      const { Body } = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: range }), {
        abortSignal: options.signal,
      });
      if (!(Body instanceof Readable)) throw new Error(`S3 returned no readable body for ${key}`);
      return Body;
    } catch (error) {
      if (statusOf(error) === 404) throw new BlobNotFoundError(digest);
      throw error;
    }
  }

  /** A single PutObject is atomic (the object appears whole or not at all), so it needs no staging. */
  async put(digest: string, bytes: Buffer): Promise<void> {
    const key = this.#key(blobKey(digest));
    if ((await this.#head(key)) !== null) return;
    await this.#client.send(
      new PutObjectCommand({ Bucket: this.#bucket, Key: key, Body: bytes, ContentLength: bytes.length, ContentType: CONTENT_TYPE }),
    );
  }

  async delete(digest: string): Promise<void> {
    await this.#deleteKey(this.#key(blobKey(digest)));
  }

  /** Deletes stale staged objects and aborts stale multipart uploads (a crash mid-write leaves one behind). */
  async sweepStaging(olderThanMs: number): Promise<number> {
    const cutoff = Date.now() - olderThanMs;
    const prefix = this.#key(STAGING_PREFIX);
    let swept = 0;
    let continuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: prefix, ContinuationToken: continuationToken }),
      );
      for (const object of page.Contents ?? []) {
        if (object.Key === undefined || !isStagingKey(object.Key.slice(this.#prefix.length)) || (object.LastModified?.getTime() ?? Infinity) > cutoff) continue;
        await this.#deleteKey(object.Key);
        swept += 1;
      }
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);

    // Open uploads under blobs/ too: a crash during a multipart copy leaves one there.
    const ours = [prefix, this.#key(BLOBS_PREFIX)];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.#client.send(
        new ListMultipartUploadsCommand({ Bucket: this.#bucket, Prefix: this.#prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }),
      );
      for (const upload of page.Uploads ?? []) {
        if (upload.Key === undefined || upload.UploadId === undefined || !ours.some((area) => upload.Key?.startsWith(area))) continue;
        if ((upload.Initiated?.getTime() ?? Infinity) > cutoff) continue;
        if (await this.#abortUpload(upload.Key, upload.UploadId)) swept += 1;
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
    return swept;
  }

  /** A presigned GET, signed for the public endpoint when there is one. */
  async redirectUrl(digest: string): Promise<string> {
    const command = new GetObjectCommand({ Bucket: this.#bucket, Key: this.#key(blobKey(digest)) });
    return getSignedUrl(this.#presigner, command, { expiresIn: this.#presignExpirySeconds });
  }

  /** Copies the staged object under its digest (unless already there) and drops the staged copy. */
  async #publish(stagingKey: string, target: string, size: number): Promise<void> {
    if ((await this.#head(target)) === null) {
      if (size > this.#maxCopyObjectBytes) await this.#copyInParts(stagingKey, target, size);
      else {
        await this.#client.send(new CopyObjectCommand({ Bucket: this.#bucket, Key: target, CopySource: this.#copySource(stagingKey) }));
      }
    }
    await this.#deleteKey(stagingKey);
  }

  /** UploadPartCopy for objects beyond CopyObject's limit; aborted on failure so no parts linger. */
  async #copyInParts(stagingKey: string, target: string, size: number): Promise<void> {
    const { UploadId } = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: this.#bucket, Key: target, ContentType: CONTENT_TYPE }),
    );
    if (UploadId === undefined) throw new Error(`S3 started no multipart upload for ${target}`);
    try {
      const parts: CompletedPart[] = [];
      for (const [index, range] of copyPartRanges(size, this.#copyPartBytes).entries()) {
        const { CopyPartResult } = await this.#client.send(
          new UploadPartCopyCommand({
            Bucket: this.#bucket,
            Key: target,
            UploadId,
            PartNumber: index + 1,
            CopySource: this.#copySource(stagingKey),
            CopySourceRange: `bytes=${range.start}-${range.end}`,
          }),
        );
        parts.push({ PartNumber: index + 1, ETag: CopyPartResult?.ETag });
      }
      await this.#client.send(
        new CompleteMultipartUploadCommand({ Bucket: this.#bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } }),
      );
    } catch (error) {
      await this.#abortUpload(target, UploadId).catch(() => undefined); // the copy's error is the one to report
      throw error;
    }
  }

  async #head(key: string): Promise<BlobStat | null> {
    try {
      const { ContentLength } = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key }));
      return { size: ContentLength ?? 0 };
    } catch (error) {
      if (statusOf(error) === 404) return null;
      throw error;
    }
  }

  /** Deleting an absent key succeeds in S3, which makes every clean-up idempotent. */
  async #deleteKey(key: string): Promise<void> {
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }));
  }

  /** Aborts a multipart upload; false when it was already gone (completed or aborted meanwhile). */
  async #abortUpload(key: string, uploadId: string): Promise<boolean> {
    try {
      await this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#bucket, Key: key, UploadId: uploadId }));
      return true;
    } catch (error) {
      if (statusOf(error) === 404) return false;
      throw error;
    }
  }

  #copySource(key: string): string {
    return `${this.#bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  }

  #key(key: string): string {
    return `${this.#prefix}${key}`;
  }
}

/**
 * S3-compatible stores (MinIO, Ceph, s3rver) reject or mangle the SDK's default CRC32 checksums
 * and their aws-chunked uploads; checksums are sent and checked only where S3 requires them.
 */
function s3Client(options: S3BlobStoreOptions, endpoint: string | undefined): S3Client {
  return new S3Client({
    region: options.region,
    endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials:
      options.accessKeyId !== undefined && options.secretAccessKey !== undefined
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's default handler has neither bound.
    requestHandler: {
      connectionTimeout: Math.min(CONNECTION_TIMEOUT_MS, options.requestIdleTimeoutMs ?? CONNECTION_TIMEOUT_MS),
      requestTimeout: options.requestIdleTimeoutMs ?? DEFAULT_REQUEST_IDLE_TIMEOUT_MS,
      // Else the handler only logs a warning and goes on waiting.
      throwOnRequestTimeout: true,
    },
  });
}

/** `a/b`, `/a/b/` → `a/b/`; empty stays empty. */
function normalisePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '' : `${trimmed}/`;
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}
