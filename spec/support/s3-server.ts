/**
 * An S3-compatible server for the tests: s3rver (npm) in-process on a free loopback port, storing
 * under a temp directory, with one bucket. s3rver refuses unknown access key ids and expired
 * presigned URLs but does not verify SigV4 signatures.
 *
 * s3rver lacks three multipart calls the S3 store relies on — AbortMultipartUpload,
 * ListMultipartUploads and UploadPartCopy — so this file answers them in front of s3rver, as S3's
 * API reference describes them, on s3rver's own multipart directory
 * (`<bucket>/._S3rver_uploads/<uploadId>/`). They skip s3rver's access key check.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';

/** s3rver's default account. */
export const S3_ACCESS_KEY_ID = 'S3RVER';
export const S3_SECRET_ACCESS_KEY = 'S3RVER';

export interface S3Request {
  readonly method: string;
  readonly path: string;
  /** Query parameter names: `uploads`, `uploadId`, `partNumber`, … */
  readonly query: readonly string[];
  readonly copySource: boolean;
}

export interface S3TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  readonly bucket: string;
  readonly region: string;
  /** Every request received, oldest first. */
  readonly requests: readonly S3Request[];
  /**
   * The keys under `prefix` (stripped of it), read from s3rver's directory rather than through the
   * API: committed objects, and the keys of multipart uploads still open.
   */
  listKeys(prefix?: string): Promise<string[]>;
  /** Open multipart uploads, whatever their prefix. */
  openUploads(): Promise<Array<{ key: string; uploadId: string }>>;
  stop(): Promise<void>;
}

interface KoaContext {
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string | string[] | undefined>;
  get(header: string): string;
  status: number;
  body: unknown;
  type: string;
}

type Middleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

interface S3rverStore {
  getObject(bucket: string, key: string, range?: { start: number; end?: number }): Promise<{ content: Readable | null } | null>;
  putPart(bucket: string, uploadId: string, partNumber: number, content: Readable): Promise<{ md5: string }>;
  deleteObject(bucket: string, key: string): Promise<void>;
  getResourcePath(bucket: string, key: string, resource: string): string;
}

interface S3rver {
  readonly middleware: Middleware[];
  readonly store: S3rverStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

type S3rverConstructor = new (options: Record<string, unknown>) => S3rver;

const OBJECT_SUFFIX = '._S3rver_object';
const UPLOADS_DIRECTORY = '._S3rver_uploads';

export async function startS3Server(): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 'droplet-registry-s3rver-'));
  const bucket = 'droplet-registry-test';
  const S3rverClass = createRequire(import.meta.url)('s3rver') as S3rverConstructor;
  const server = new S3rverClass({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    allowMismatchedSignatures: false,
    configureBuckets: [{ name: bucket }],
  });
  const uploadsDirectory = join(directory, bucket, UPLOADS_DIRECTORY);
  const requests: S3Request[] = [];

  async function openUploads(): Promise<Array<{ key: string; uploadId: string; initiated: Date }>> {
    const ids = await readdir(uploadsDirectory).catch(() => []);
    const uploads = await Promise.all(
      ids.map(async (uploadId) => {
        const keyFile = join(uploadsDirectory, uploadId, 'key');
        const [key, info] = await Promise.all([readFile(keyFile, 'utf8'), stat(keyFile)]).catch(() => [null, null] as const);
        return key === null || info === null ? null : { key, uploadId, initiated: info.mtime };
      }),
    );
    return uploads.filter((upload) => upload !== null).sort((a, b) => a.key.localeCompare(b.key) || a.uploadId.localeCompare(b.uploadId));
  }

  const multipartGaps: Middleware = async (ctx, next) => {
    const query = Object.keys(ctx.query).filter((name) => name !== 'x-id'); // the SDK's operation tag
    const copySource = ctx.get('x-amz-copy-source') !== '';
    requests.push({ method: ctx.method, path: ctx.path, query, copySource });
    const [, bucketName, ...keyParts] = ctx.path.split('/');
    const key = keyParts.join('/');
    const uploadId = typeof ctx.query.uploadId === 'string' ? ctx.query.uploadId : undefined;
    if (bucketName !== bucket) return next();

    if (ctx.method === 'GET' && key === '' && 'uploads' in ctx.query) {
      const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
      const uploads = (await openUploads()).filter((upload) => upload.key.startsWith(prefix));
      xml(ctx, 200, `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
<Bucket>${bucket}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${escapeXml(prefix)}</Prefix>
<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>
${uploads.map((upload) => `<Upload><Key>${escapeXml(upload.key)}</Key><UploadId>${upload.uploadId}</UploadId><Initiated>${upload.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`).join('\n')}
</ListMultipartUploadsResult>`);
      return;
    }
    if (uploadId === undefined || key === '') return next();
    const uploadDirectory = /^[0-9a-f]+$/.test(uploadId) ? join(uploadsDirectory, uploadId) : null;
    const open = uploadDirectory !== null && (await stat(uploadDirectory).then(() => true, () => false));

    if (ctx.method === 'DELETE') {
      if (!open || uploadDirectory === null) return noSuchUpload(ctx, uploadId);
      await rm(uploadDirectory, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'PUT' && copySource) {
      if (!open) return noSuchUpload(ctx, uploadId);
      const [, sourceBucket, ...sourceKey] = `/${decodeURIComponent(ctx.get('x-amz-copy-source')).replace(/^\//, '')}`.split('/');
      const range = /^bytes=(\d+)-(\d+)$/.exec(ctx.get('x-amz-copy-source-range'));
      const source = await server.store.getObject(sourceBucket ?? '', sourceKey.join('/'), { start: Number(range?.[1] ?? 0), end: Number(range?.[2] ?? Infinity) });
      if (!source?.content) return xml(ctx, 404, '<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>');
      const { md5 } = await server.store.putPart(bucket, uploadId, Number(ctx.query.partNumber), source.content);
      xml(ctx, 200, `<CopyPartResult><ETag>"${md5}"</ETag><LastModified>${new Date().toISOString()}</LastModified></CopyPartResult>`);
      return;
    }
    return next();
  };
  server.middleware.unshift(multipartGaps);
  // s3rver reads a range's end with `options.end || Infinity`, so `bytes=0-0` would return the whole
  // object; a Number object is truthy yet still 0 to Math.min.
  const getObject = server.store.getObject.bind(server.store);
  server.store.getObject = (bucketName, key, range) =>
    getObject(bucketName, key, range?.end === 0 ? { ...range, end: new Number(0) as unknown as number } : range);

  // s3rver's deleteObject also removes the directories a key's path left empty, racing any upload
  // that has just created one of them (`staging/` for two staged writes: "ENOENT … open", thrown
  // outside any request, which ends the test process). S3 has no directories: delete the files only.
  server.store.deleteObject = async (bucketName, key) => {
    const files = ['object', 'object.md5', 'metadata.json'].map((resource) => server.store.getResourcePath(bucketName, key, resource));
    await Promise.all(files.map((file) => rm(file, { force: true })));
  };

  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    region: 'us-east-1',
    requests,
    async listKeys(prefix = '') {
      const entries = await readdir(join(directory, bucket), { recursive: true, withFileTypes: true });
      const objects = entries
        .filter((entry) => entry.isFile() && entry.name.endsWith(OBJECT_SUFFIX))
        .map((entry) => relative(join(directory, bucket), join(entry.parentPath, entry.name.slice(0, -OBJECT_SUFFIX.length))).split(sep).join('/'));
      const pending = (await openUploads()).map((upload) => upload.key);
      return [...objects, ...pending]
        .filter((key) => key.startsWith(prefix))
        .map((key) => key.slice(prefix.length))
        .sort();
    },
    async openUploads() {
      return (await openUploads()).map(({ key, uploadId }) => ({ key, uploadId }));
    },
    async stop() {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

function xml(ctx: KoaContext, status: number, body: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
}

function noSuchUpload(ctx: KoaContext, uploadId: string): void {
  xml(ctx, 404, `<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message><UploadId>${escapeXml(uploadId)}</UploadId></Error>`);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
