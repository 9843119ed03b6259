import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { S3BlobStore, type S3BlobStoreOptions } from '../../../src/blobstore/s3-blob-store.ts';
import { digestOf, readAll, runBlobStoreContract, writeStaged } from '../../support/blob-store-contract.ts';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../../support/s3-server.ts';

const MiB = 1024 * 1024;

let server: S3TestServer;
before(async () => {
  server = await startS3Server();
});
after(() => server.stop());

/** A store on the shared server, under a prefix of its own so tests never see each other's keys. */
function makeS3Store(overrides: Partial<S3BlobStoreOptions> = {}) {
  const prefix = `run-${randomUUID()}/`;
  const store = new S3BlobStore({
    bucket: server.bucket,
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: true,
    accessKeyId: S3_ACCESS_KEY_ID,
    secretAccessKey: S3_SECRET_ACCESS_KEY,
    presignExpirySeconds: 300,
    prefix,
    partSizeBytes: 5 * MiB,
    ...overrides,
  });
  return { store, prefix, listKeys: () => server.listKeys(prefix), cleanup: async () => undefined };
}

runBlobStoreContract('s3', async () => makeS3Store());

/**
 * Writes 12 MiB in 1 MiB chunks. The uploader takes 5 MiB parts two at a time and reads on only
 * once a part has been uploaded, so the last write returns after the multipart upload has begun.
 */
async function writeUploadUnderWay(writable: Writable): Promise<void> {
  for (let chunk = 0; chunk < 12; chunk += 1) {
    await new Promise<void>((resolve, reject) => writable.write(randomBytes(MiB), (error) => (error ? reject(error) : resolve())));
  }
}

/** Requests made while `action` ran, as `METHOD query-names` (`PUT partNumber,uploadId`). */
async function requestsDuring(action: () => Promise<unknown>): Promise<string[]> {
  const from = server.requests.length;
  await action();
  return server.requests.slice(from).map((request) => `${request.method} ${[...request.query].sort().join(',')}${request.copySource ? ' copy' : ''}`);
}

describe('s3 blob store', () => {
  it('streams a blob bigger than the part size as a multipart upload of several parts', async () => {
    const { store, listKeys } = makeS3Store();
    const chunks = Array.from({ length: 12 }, () => randomBytes(MiB));
    const digest = `sha256:${createHash('sha256').update(Buffer.concat(chunks)).digest('hex')}`;

    const staged = await store.stage();
    const requests = await requestsDuring(() => pipeline(Readable.from(chunks), staged.writable));
    assert.deepEqual(requests.filter((request) => request.startsWith('POST')), ['POST uploads', 'POST uploadId']);
    assert.equal(requests.filter((request) => request === 'PUT partNumber,uploadId').length, 3, '12 MiB in 5 MiB parts');
    assert.deepEqual(await server.openUploads(), []);

    await staged.commit(digest);
    assert.deepEqual(await listKeys(), [`blobs/sha256/${digest.slice('sha256:'.length)}`]);
    assert.equal(createHash('sha256').update(await readAll(await store.open(digest))).digest('hex'), digest.slice('sha256:'.length));
  });

  it('aborts the multipart upload of a cancelled stage: no object, no upload left open', async () => {
    const { store, prefix, listKeys } = makeS3Store();
    const staged = await store.stage();
    await writeUploadUnderWay(staged.writable);
    assert.equal((await server.openUploads()).filter((upload) => upload.key.startsWith(prefix)).length, 1);

    const requests = await requestsDuring(() => staged.cancel());
    assert.ok(requests.includes('DELETE uploadId'), `AbortMultipartUpload among ${requests.join('; ')}`);
    await staged.cancel();
    assert.deepEqual(await server.openUploads(), []);
    assert.deepEqual(await listKeys(), []);
  });

  it("sweeps only its own staged writes, never another registry's blobs sharing the bucket under a prefix `staging`", async () => {
    const run = `run-${randomUUID()}`;
    const outer = makeS3Store({ prefix: `${run}/` });
    const inner = makeS3Store({ prefix: `${run}/staging/` });
    const bytes = Buffer.from('a layer of the registry whose prefix is staging');
    await inner.store.put(digestOf(bytes), bytes);
    assert.equal(await outer.store.sweepStaging(0), 0);
    assert.deepEqual(await inner.store.stat(digestOf(bytes)), { size: bytes.length });
  });

  it('sweeps the multipart upload a crashed writer left open', async () => {
    const { store, listKeys } = makeS3Store();
    const staged = await store.stage();
    await writeUploadUnderWay(staged.writable);
    // The writer dies: its requests stop, nothing cancels the stage, the upload stays open.
    staged.writable.destroy();
    await finished(staged.writable).catch(() => undefined);
    assert.deepEqual((await listKeys()).map((key) => key.replace(/[0-9a-f-]{36}$/, '<uuid>')), ['staging/<uuid>']);

    assert.equal(await store.sweepStaging(60 * 60 * 1000), 0, 'a fresh upload may still be a live write');
    assert.equal(await store.sweepStaging(0), 1);
    assert.deepEqual(await listKeys(), []);
  });

  it('commits a blob beyond the single-copy limit with UploadPartCopy', async () => {
    const { store, listKeys } = makeS3Store({ maxCopyObjectBytes: 5 * MiB, copyPartBytes: 5 * MiB });
    const bytes = randomBytes(11 * MiB);
    const digest = digestOf(bytes);
    const staged = await store.stage();
    await writeStaged(staged, bytes);

    const requests = await requestsDuring(() => staged.commit(digest));
    assert.equal(requests.filter((request) => request === 'PUT partNumber,uploadId copy').length, 3);
    assert.ok(!requests.some((request) => request === 'PUT  copy'), 'no whole-object CopyObject');
    assert.deepEqual(await listKeys(), [`blobs/sha256/${digest.slice('sha256:'.length)}`]);
    assert.deepEqual(await readAll(await store.open(digest)), bytes);
  });

  it('redirects to a presigned GET that serves the bytes', async () => {
    const { store } = makeS3Store({ presignExpirySeconds: 120 });
    const bytes = Buffer.from('presigned bytes');
    const digest = digestOf(bytes);
    await store.put(digest, bytes);

    const url = new URL((await store.redirectUrl(digest)) ?? '');
    assert.equal(url.origin, server.endpoint);
    assert.match(url.pathname, new RegExp(`^/${server.bucket}/run-[0-9a-f-]{36}/blobs/sha256/${digest.slice('sha256:'.length)}$`));
    assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
    assert.equal(url.searchParams.get('X-Amz-Expires'), '120');
    assert.match(url.searchParams.get('X-Amz-Signature') ?? '', /^[0-9a-f]{64}$/);
    assert.match(url.searchParams.get('X-Amz-Credential') ?? '', new RegExp(`^${S3_ACCESS_KEY_ID}/\\d{8}/${server.region}/s3/aws4_request$`));

    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
  });

  it('signs redirect URLs for the public endpoint', async () => {
    const publicEndpoint = `http://localhost:${server.port}`;
    const { store } = makeS3Store({ publicEndpoint });
    const bytes = Buffer.from('fetched through the public name');
    const digest = digestOf(bytes);
    await store.put(digest, bytes);

    const url = new URL((await store.redirectUrl(digest)) ?? '');
    assert.equal(url.origin, publicEndpoint);
    const response = await fetch(url);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), bytes);
  });

  it('gives up on a store that takes requests and never answers', async () => {
    // Accepts the connection, reads the request, says nothing.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = silent.address() as AddressInfo;
      const { store } = makeS3Store({ endpoint: `http://127.0.0.1:${port}`, requestIdleTimeoutMs: 300 });
      await assert.rejects(store.stat(digestOf(Buffer.from('x'))), (error: Error) => /timeout|timed out/i.test(`${error.name} ${error.message}`));
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('reports credentials the store does not know', async () => {
    const { store } = makeS3Store({ accessKeyId: 'NOT-A-KEY' });
    await assert.rejects(store.open(digestOf(Buffer.from('x'))), (error: Error) => error.name === 'InvalidAccessKeyId');
  });
});
