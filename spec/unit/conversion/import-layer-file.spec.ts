import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { StagedBlob } from '../../../src/blobstore/blob-store.ts';
import { importLayerFile } from '../../../src/conversion/import-layer-file.ts';
import { InvalidLayerFileError } from '../../../src/conversion/invalid-layer-file-error.ts';
import { OCI_LAYER_GZIP, OCI_LAYER_TAR } from '../../../src/conversion/layer-descriptor.ts';
import { buildTar, writeDropletFile } from '../../support/build-droplet.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

let dir: string;
let rootfsTar: Buffer;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootfs-'));
  // Big enough to take many reads, partly incompressible.
  rootfsTar = await buildTar([
    { name: 'etc/', type: 'directory', uid: 0, gid: 0 },
    { name: 'etc/os-release', content: 'NAME="Ubuntu"\n', uid: 0, gid: 0 },
    { name: 'usr/lib/blob', content: randomBytes(3 * 1024 * 1024), uid: 0, gid: 0 },
    { name: 'usr/share/zeros', content: Buffer.alloc(2 * 1024 * 1024), uid: 0, gid: 0 },
  ]);
});
after(() => rm(dir, { recursive: true, force: true }));

async function assertRejected(path: string, message: RegExp): Promise<void> {
  const blobs = new MemoryBlobStore();
  await assert.rejects(importLayerFile(path, blobs), (error: unknown) => {
    assert.ok(error instanceof InvalidLayerFileError, `expected an InvalidLayerFileError, got ${String(error)}`);
    assert.match(error.message, message);
    return true;
  });
  assert.deepEqual(blobs.digests(), [], 'nothing committed');
  assert.equal(blobs.stagedCount(), 0, 'nothing left staged');
}

describe('importLayerFile', () => {
  it('stores a gzip rootfs unchanged, with the digest of the file and the diff_id of the tar inside', async () => {
    const file = gzipSync(rootfsTar);
    const path = await writeDropletFile(dir, 'cflinuxfs4.tar.gz', file);
    const blobs = new MemoryBlobStore();
    const layer = await importLayerFile(path, blobs);
    assert.deepEqual(layer, {
      digest: sha256(file),
      diffId: sha256(rootfsTar),
      size: file.length,
      uncompressedSize: rootfsTar.length,
      mediaType: OCI_LAYER_GZIP,
    });
    assert.ok(blobs.bytes(layer.digest).equals(file), 'served byte for byte as shipped');
    assert.equal(blobs.stagedCount(), 0);
  });

  it('stores a plain tar rootfs as an uncompressed layer whose diff_id is its digest', async () => {
    const path = await writeDropletFile(dir, 'rootfs.tar', rootfsTar);
    const blobs = new MemoryBlobStore();
    const layer = await importLayerFile(path, blobs);
    assert.deepEqual(layer, {
      digest: sha256(rootfsTar),
      diffId: sha256(rootfsTar),
      size: rootfsTar.length,
      uncompressedSize: rootfsTar.length,
      mediaType: OCI_LAYER_TAR,
    });
    assert.ok(blobs.bytes(layer.digest).equals(rootfsTar));
  });

  it('refuses a truncated gzip', async () => {
    const file = gzipSync(rootfsTar);
    const path = await writeDropletFile(dir, 'cut.tar.gz', file.subarray(0, file.length - 1000));
    await assertRejected(path, /^layer file .*cut\.tar\.gz is truncated \(its gzip stream ends early\)$/);
  });

  it('refuses a gzip whose data is corrupt', async () => {
    const file = Buffer.from(gzipSync(rootfsTar));
    file.writeUInt8(file.readUInt8(file.length - 6) ^ 0xff, file.length - 6);
    const path = await writeDropletFile(dir, 'crc.tar.gz', file);
    await assertRejected(path, /^layer file .*crc\.tar\.gz has corrupt gzip data \(incorrect data check\)$/);
  });

  it('fails on a missing file without staging anything', async () => {
    const blobs = new MemoryBlobStore();
    await assert.rejects(importLayerFile(join(dir, 'absent.tar.gz'), blobs), { code: 'ENOENT' });
    assert.equal(blobs.stagedCount(), 0);
  });

  it('stops on abort, leaving nothing behind', async () => {
    const path = await writeDropletFile(dir, 'abort.tar.gz', gzipSync(rootfsTar));
    const controller = new AbortController();
    class AbortAfterStaging extends MemoryBlobStore {
      override async stage(options?: { signal?: AbortSignal }): Promise<StagedBlob> {
        const staged = await super.stage(options);
        controller.abort();
        return staged;
      }
    }
    const blobs = new AbortAfterStaging();
    await assert.rejects(importLayerFile(path, blobs, { signal: controller.signal }), { name: 'AbortError' });
    assert.deepEqual(blobs.digests(), []);
    assert.equal(blobs.stagedCount(), 0);
  });
});
