import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { digestOf, runBlobStoreContract } from '../../support/blob-store-contract.ts';

/** Every file under `root`, as a blobstore key. */
async function listKeys(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

async function makeFsStore() {
  const root = await mkdtemp(join(tmpdir(), 'droplet-registry-fs-blobs-'));
  return {
    root,
    store: new FsBlobStore({ root }),
    listKeys: () => listKeys(root),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

runBlobStoreContract('fs', makeFsStore);

const FS_BLOB_STORE_MODULE = fileURLToPath(new URL('../../../src/blobstore/fs-blob-store.ts', import.meta.url));

/** A process that stages a blob, writes part of it and is killed before commit or cancel. */
const CRASHING_WRITER = `
const { FsBlobStore } = await import(process.argv[1]);
const staged = await new FsBlobStore({ root: process.argv[2] }).stage();
staged.writable.write(Buffer.alloc(64 * 1024, 1), () => process.kill(process.pid, 'SIGKILL'));
`;

describe('fs blob store', () => {
  let subject: Awaited<ReturnType<typeof makeFsStore>>;
  beforeEach(async () => {
    subject = await makeFsStore();
  });
  afterEach(() => subject.cleanup());

  it('serves blobs itself: no redirect URL', async () => {
    const bytes = Buffer.from('local');
    await subject.store.put(digestOf(bytes), bytes);
    assert.equal(await subject.store.redirectUrl(digestOf(bytes)), null);
  });

  it('sweeps the staged file of a writer that crashed, leaving nothing under blobs/', async () => {
    await assert.rejects(
      promisify(execFile)(process.execPath, ['--input-type=module', '--eval', CRASHING_WRITER, FS_BLOB_STORE_MODULE, subject.root]),
      (error: { signal?: string }) => error.signal === 'SIGKILL',
    );
    const [staged, ...others] = await subject.listKeys();
    assert.match(staged ?? '', /^staging\/[0-9a-f-]{36}$/);
    assert.deepEqual(others, []);

    assert.equal(await subject.store.sweepStaging(60 * 60 * 1000), 0, 'a crash a moment ago may still be a live write');
    const anHourAgo = new Date(Date.now() - 60 * 60 * 1000);
    await utimes(join(subject.root, staged ?? ''), anHourAgo, anHourAgo);
    assert.equal(await subject.store.sweepStaging(30 * 60 * 1000), 1);
    assert.deepEqual(await subject.listKeys(), []);
  });
});
