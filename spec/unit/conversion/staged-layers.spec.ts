import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { commitStagedLayers, writeStagedLayer } from '../../../src/conversion/staged-layers.ts';
import { buildTar } from '../../support/build-droplet.ts';
import { FaultyBlobStore, InjectedBlobStoreError } from '../../support/faulty-blob-store.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

async function stagedLayer(blobs: MemoryBlobStore | FaultyBlobStore, content: string) {
  return writeStagedLayer(Readable.from([await buildTar([{ name: 'x', content }])]), { blobs, compressionLevel: 1 });
}

describe('staged layers', () => {
  it('are written without being committed', async () => {
    const blobs = new MemoryBlobStore();
    const layer = await stagedLayer(blobs, 'a');
    assert.deepEqual(blobs.digests(), []);
    assert.equal(blobs.stagedCount(), 1);
    assert.match(layer.descriptor.digest, /^sha256:[0-9a-f]{64}$/);
  });

  it('commit those the store lacks and drop the copies of those it has', async () => {
    const blobs = new MemoryBlobStore();
    const earlier = await stagedLayer(blobs, 'shared');
    await commitStagedLayers(blobs, [earlier]);
    const layers = [await stagedLayer(blobs, 'shared'), await stagedLayer(blobs, 'new')];
    assert.deepEqual(await commitStagedLayers(blobs, layers), ['found', 'committed']);
    assert.deepEqual(blobs.digests().sort(), [earlier.descriptor.digest, layers[1]?.descriptor.digest].sort());
    assert.equal(blobs.stagedCount(), 0);
  });

  it('commit all or none: a failed commit deletes what this call committed, and cancels the rest', async () => {
    const memory = new MemoryBlobStore();
    const blobs = new FaultyBlobStore(memory);
    const existing = await stagedLayer(blobs, 'existing');
    await commitStagedLayers(blobs, [existing]);
    // The third staged write's commit fails: after the first was found and the second committed.
    blobs.failCommit(3);
    const layers = [await stagedLayer(blobs, 'existing'), await stagedLayer(blobs, 'one'), await stagedLayer(blobs, 'two'), await stagedLayer(blobs, 'three')];
    await assert.rejects(commitStagedLayers(blobs, layers), InjectedBlobStoreError);
    assert.deepEqual(blobs.fired, ['commit']);
    assert.deepEqual(memory.digests(), [existing.descriptor.digest], 'the blob it found stays, the one it committed is gone');
    assert.equal(memory.stagedCount(), 0);
  });
});
