/**
 * `blob_bytes_served_total` on the real composition (directory source, embedded PGlite,
 * filesystem blobstore), pulled over a real connection: a whole blob counts exactly its bytes, a
 * range exactly the range's, and a HEAD or a manifest nothing.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildpackDroplet } from '../../support/build-buildpack-droplet.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';
import { parseExposition, total } from './exposition.ts';

const GUID = '6b6b6b6b-1111-4111-8111-111111111111';
const REPOSITORY = 'bytes-org/bytes-space/bytes-app';
const SERVED = 'droplet_registry_blob_bytes_served_total';

describe('blob bytes served', () => {
  let work: string;
  let registry: TestRegistry;
  let url: string;
  let layers: Array<{ digest: string; size: number }>;

  const served = async (): Promise<number> => {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200);
    return total(parseExposition(await res.text()), SERVED);
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'blob-bytes-'));
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    const dropletsDir = join(work, 'droplets');
    await writeDroplet(dropletsDir, { org: 'bytes-org', space: 'bytes-space', app: 'bytes-app', guid: GUID, bytes: await buildpackDroplet({ runtimeBytes: 512 * 1024 }) });
    registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfs }, dropletsDir, env: { HOST: '127.0.0.1' } });
    await registry.registry.server.start();
    url = registry.registry.server.info.uri;
    const manifest = await fetch(`${url}/v2/${REPOSITORY}/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    layers = ((await manifest.json()) as { layers: Array<{ digest: string; size: number }> }).layers;
  });

  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('counts exactly the bytes of each pulled blob, and nothing for the manifest', async () => {
    const before = await served();
    let received = 0;
    for (const layer of layers) {
      const res = await fetch(`${url}/v2/${REPOSITORY}/blobs/${layer.digest}`);
      assert.equal(res.status, 200);
      received += (await res.arrayBuffer()).byteLength;
    }
    assert.equal(received, layers.reduce((sum, layer) => sum + layer.size, 0), 'the client got the layers whole');
    assert.equal((await served()) - before, received);
  });

  it('counts a range as its bytes, and a HEAD as none', async () => {
    const layer = layers.at(-1) as { digest: string; size: number };
    const before = await served();
    const head = await fetch(`${url}/v2/${REPOSITORY}/blobs/${layer.digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const ranged = await fetch(`${url}/v2/${REPOSITORY}/blobs/${layer.digest}`, { headers: { range: 'bytes=10-109' } });
    assert.equal(ranged.status, 206);
    assert.equal((await ranged.arrayBuffer()).byteLength, 100);
    assert.equal((await served()) - before, 100);
  });
});
