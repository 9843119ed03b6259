/**
 * The in-memory blob store the unit specs convert into must behave like the real backends, or a
 * conversion spec can pass against it and fail in production: it runs the same contract suite as
 * the fs, s3 and webdav stores.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runBlobStoreContract, writeStaged } from '../../support/blob-store-contract.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

runBlobStoreContract('memory', async () => {
  const store = new MemoryBlobStore();
  return { store, listKeys: async () => store.keys(), cleanup: async () => undefined };
});

describe('memory blob store', () => {
  // The fs, s3 and webdav stores sweep a staged write whose age has reached the limit; with the
  // clock held still, a write staged "now" is exactly as old as a limit of 0.
  it('sweeps a staged write exactly as old as the limit, as the real backends do', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const store = new MemoryBlobStore();
    await writeStaged(await store.stage(), Buffer.from('abandoned'));

    assert.equal(await store.sweepStaging(0), 1);
    assert.deepEqual(store.keys(), []);
  });
});
