/**
 * What every BlobStore backend (fs, s3, webdav) must do, written once (verdaccio's shared e2e
 * suites, distribution's storage driver test suite). A backend's spec calls
 * `runBlobStoreContract('fs', makeStore)` and adds its own checks.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BLOBS_PREFIX, STAGING_PREFIX } from '../../src/blobstore/blob-keys.ts';
import { BlobNotFoundError, type BlobStore, type StagedBlob } from '../../src/blobstore/blob-store.ts';

export interface BlobStoreUnderTest {
  readonly store: BlobStore;
  /** Every key the backend holds (`blobs/sha256/<hex>`, `staging/<uuid>`), whatever the API says. */
  listKeys(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export function digestOf(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export async function readAll(readable: Readable): Promise<Buffer> {
  return Buffer.concat(await readable.toArray());
}

/** Writes `bytes` through the staged writable and ends it. */
export async function writeStaged(staged: StagedBlob, bytes: Buffer): Promise<void> {
  await pipeline(Readable.from([bytes]), staged.writable);
}

/** Resolves when `writable` has been destroyed (its 'close', with or without an error). */
function destroyed(writable: Writable, error: Error): Promise<void> {
  return new Promise((resolve) => {
    writable.on('error', () => undefined);
    writable.once('close', () => resolve());
    writable.destroy(error);
  });
}

const MALFORMED_DIGESTS = [
  'sha256:abc',
  `sha256:${'A'.repeat(64)}`,
  `sha256:../../${'a'.repeat(58)}`,
  `sha512:${'a'.repeat(128)}`,
  `${'a'.repeat(64)}`,
];

export function runBlobStoreContract(name: string, makeStore: () => Promise<BlobStoreUnderTest>): void {
  describe(`${name} blob store contract`, () => {
    let subject: BlobStoreUnderTest;
    let store: BlobStore;

    beforeEach(async () => {
      subject = await makeStore();
      store = subject.store;
    });
    afterEach(() => subject.cleanup());

    async function commitBytes(bytes: Buffer): Promise<string> {
      const digest = digestOf(bytes);
      const staged = await store.stage();
      await writeStaged(staged, bytes);
      await staged.commit(digest);
      return digest;
    }

    async function keysUnder(prefix: string): Promise<string[]> {
      return (await subject.listKeys()).filter((key) => key.startsWith(prefix));
    }

    it('serves a committed blob whole, with its size, under blobs/sha256/<hex>', async () => {
      const bytes = Buffer.from('hello, blob store\n');
      const digest = await commitBytes(bytes);

      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.deepEqual(await readAll(await store.open(digest)), bytes);
      assert.deepEqual(await subject.listKeys(), [`${BLOBS_PREFIX}${digest.slice('sha256:'.length)}`]);
    });

    it('serves byte ranges: the first byte, a middle slice, the last byte', async () => {
      const bytes = Buffer.from('0123456789abcdef');
      const digest = await commitBytes(bytes);

      assert.equal((await readAll(await store.open(digest, { range: { start: 0, end: 0 } }))).toString(), '0');
      assert.equal((await readAll(await store.open(digest, { range: { start: 5, end: 9 } }))).toString(), '56789');
      assert.equal((await readAll(await store.open(digest, { range: { start: 15, end: 15 } }))).toString(), 'f');
    });

    it('keeps staged bytes invisible until commit', async () => {
      const bytes = Buffer.from('not yet');
      const digest = digestOf(bytes);
      const staged = await store.stage();
      await writeStaged(staged, bytes);

      assert.equal(await store.stat(digest), null);
      await assert.rejects(store.open(digest), BlobNotFoundError);
      assert.deepEqual(await keysUnder(BLOBS_PREFIX), []);

      await staged.commit(digest);
      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.deepEqual(await keysUnder(STAGING_PREFIX), []);
    });

    it('leaves no key at all when a finished write is cancelled, even when cancelled twice', async () => {
      const staged = await store.stage();
      await writeStaged(staged, Buffer.from('discard me'));
      await staged.cancel();
      await staged.cancel();

      assert.deepEqual(await subject.listKeys(), []);
    });

    it('leaves no key when a write is cancelled before any byte', async () => {
      const staged = await store.stage();
      await staged.cancel();

      assert.deepEqual(await subject.listKeys(), []);
    });

    it('refuses to commit a write that failed half-way, and its cancel leaves nothing', async () => {
      const bytes = randomBytes(256 * 1024);
      const staged = await store.stage();
      await new Promise<void>((resolve, reject) => staged.writable.write(bytes, (error) => (error ? reject(error) : resolve())));
      await destroyed(staged.writable, new Error('droplet download failed'));

      await assert.rejects(staged.commit(digestOf(bytes)));
      await staged.cancel();
      assert.deepEqual(await subject.listKeys(), []);
      assert.equal(await store.stat(digestOf(bytes)), null);
    });

    it('keeps one copy when a digest is committed twice', async () => {
      const bytes = Buffer.from('same content, two conversions');
      const digest = await commitBytes(bytes);
      await commitBytes(bytes);

      assert.deepEqual(await subject.listKeys(), [`${BLOBS_PREFIX}${digest.slice('sha256:'.length)}`]);
      assert.deepEqual(await readAll(await store.open(digest)), bytes);
    });

    it('stores a small blob with put, once however often it is put', async () => {
      const bytes = Buffer.from('{"architecture":"amd64","os":"linux"}');
      const digest = digestOf(bytes);
      await store.put(digest, bytes);
      await store.put(digest, bytes);

      assert.deepEqual(await store.stat(digest), { size: bytes.length });
      assert.deepEqual(await readAll(await store.open(digest)), bytes);
      assert.deepEqual(await subject.listKeys(), [`${BLOBS_PREFIX}${digest.slice('sha256:'.length)}`]);
    });

    it('deletes a blob, and deleting an absent blob is not an error', async () => {
      const digest = await commitBytes(Buffer.from('short-lived'));
      await store.delete(digest);
      await store.delete(digest);

      assert.equal(await store.stat(digest), null);
      await assert.rejects(store.open(digest), BlobNotFoundError);
      assert.deepEqual(await subject.listKeys(), []);
    });

    it('sweeps staged writes older than the limit and leaves committed blobs alone', async () => {
      const kept = await commitBytes(Buffer.from('committed'));
      const abandoned = await store.stage();
      await writeStaged(abandoned, Buffer.from('left by a crashed conversion'));

      assert.equal(await store.sweepStaging(60 * 60 * 1000), 0, 'a fresh staged write is not swept');
      assert.equal((await keysUnder(STAGING_PREFIX)).length, 1);

      assert.equal(await store.sweepStaging(0), 1);
      assert.deepEqual(await subject.listKeys(), [`${BLOBS_PREFIX}${kept.slice('sha256:'.length)}`]);
    });

    it('round-trips a 20 MB blob streamed in chunks', async () => {
      const hash = createHash('sha256');
      const chunks = Array.from({ length: 20 }, () => randomBytes(1024 * 1024));
      for (const chunk of chunks) hash.update(chunk);
      const digest = `sha256:${hash.digest('hex')}`;

      const staged = await store.stage();
      await pipeline(Readable.from(chunks), staged.writable);
      await staged.commit(digest);

      assert.deepEqual(await store.stat(digest), { size: 20 * 1024 * 1024 });
      const readBack = createHash('sha256');
      for await (const chunk of await store.open(digest)) readBack.update(chunk as Buffer);
      assert.equal(`sha256:${readBack.digest('hex')}`, digest);
    });

    it('refuses malformed digests everywhere without touching storage', async () => {
      for (const digest of MALFORMED_DIGESTS) {
        const staged = await store.stage();
        await writeStaged(staged, Buffer.from('x'));
        await assert.rejects(staged.commit(digest), TypeError, `commit ${digest}`);
        await staged.cancel();
        await assert.rejects(store.stat(digest), TypeError, `stat ${digest}`);
        await assert.rejects(store.open(digest), TypeError, `open ${digest}`);
        await assert.rejects(store.put(digest, Buffer.from('x')), TypeError, `put ${digest}`);
        await assert.rejects(store.delete(digest), TypeError, `delete ${digest}`);
        await assert.rejects(store.redirectUrl(digest), TypeError, `redirectUrl ${digest}`);
      }
      assert.deepEqual(await subject.listKeys(), []);
    });
  });
}
