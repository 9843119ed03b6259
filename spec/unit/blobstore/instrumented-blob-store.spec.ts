/**
 * The instrumented blobstore: the wrapped store's results and errors pass through unchanged,
 * each call is counted by operation and outcome (an absent blob is `not_found`, not an error),
 * and errors the store threw are recognised later as the blobstore's (a conversion's reason).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { BlobNotFoundError } from '../../../src/blobstore/blob-store.ts';
import { InstrumentedBlobStore } from '../../../src/blobstore/instrumented-blob-store.ts';
import { BlobStoreMetrics } from '../../../src/metrics/blobstore-metrics.ts';
import { ErrorOrigins } from '../../../src/metrics/error-origins.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { parseExposition, total } from '../../integration/metrics/exposition.ts';

const bytes = Buffer.from('hello blob');
const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const absent = `sha256:${'0'.repeat(64)}`;

function instrumented() {
  const registry = new Registry();
  const origins = new ErrorOrigins();
  const store = new InstrumentedBlobStore(new MemoryBlobStore(), new BlobStoreMetrics(registry, origins));
  const count = async (operation: string, outcome: string) => total(parseExposition(await registry.metrics()), 'droplet_registry_blobstore_operations_total', { operation, outcome });
  return { store, origins, count };
}

describe('InstrumentedBlobStore', () => {
  it('passes results through and counts each operation', async () => {
    const { store, count } = instrumented();
    await store.put(digest, bytes);
    assert.deepEqual(await store.stat(digest), { size: bytes.length });
    const chunks: Buffer[] = [];
    for await (const chunk of await store.open(digest)) chunks.push(chunk as Buffer);
    assert.deepEqual(Buffer.concat(chunks), bytes);
    const staged = await store.stage();
    staged.writable.end(bytes);
    await staged.commit(digest);
    await store.delete(digest);
    for (const operation of ['put', 'stat', 'open', 'stage', 'commit', 'delete']) assert.equal(await count(operation, 'ok'), 1, operation);
  });

  it('counts an absent blob as not_found and rethrows BlobNotFoundError as it is', async () => {
    const { store, origins, count } = instrumented();
    assert.equal(await store.stat(absent), null);
    const error = await store.open(absent).then(
      () => assert.fail('opened an absent blob'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof BlobNotFoundError);
    assert.equal(await count('stat', 'not_found'), 1);
    assert.equal(await count('open', 'not_found'), 1);
    assert.equal(origins.originOf(error), undefined, 'an absent blob is no failure of the store');
  });

  it('counts a failing call as an error and recognises its error, also as a cause', async () => {
    const { store, origins, count } = instrumented();
    const error = await store.put('not-a-digest', bytes).then(
      () => assert.fail('stored under a malformed digest'),
      (e: unknown) => e,
    );
    assert.equal(await count('put', 'error'), 1);
    assert.equal(origins.originOf(error), 'blobstore');
    assert.equal(origins.originOf(new Error('wrapped', { cause: error })), 'blobstore');
    assert.equal(origins.originOf(new Error('elsewhere')), undefined);
  });

  it("recognises a staged write's failure, unless the error came from elsewhere first", async () => {
    const { store, origins } = instrumented();
    const failing = await store.stage();
    const uploadFailed = new Error('upload failed');
    failing.writable.destroy(uploadFailed);
    await new Promise((resolve) => failing.writable.once('close', resolve));
    assert.equal(origins.originOf(uploadFailed), 'blobstore');
    // A pipeline hands the source's error to the write too: the first origin stays.
    const downloadCut = new Error('download cut');
    origins.mark(downloadCut, 'source');
    const passedOn = await store.stage();
    passedOn.writable.destroy(downloadCut);
    await new Promise((resolve) => passedOn.writable.once('close', resolve));
    assert.equal(origins.originOf(downloadCut), 'source');
  });
});
