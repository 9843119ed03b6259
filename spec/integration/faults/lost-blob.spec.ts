/**
 * A blob lost from the filesystem blobstore under a running registry (its file deleted), on the
 * real composition: the GET answers 404 BLOB_UNKNOWN instead of 500, HEAD stops saying 200, the
 * images using the blob go back to conversion at once (nothing stale served meanwhile, by tag or
 * by digest), and once converted again the blob is back and the image pulls whole. A lost base
 * layer (a stack's rootfs) is no conversion's to write: /readyz names it, and the next start
 * imports it again.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import type { BlobStat, BlobStore, ByteRange, StagedBlob } from '../../../src/blobstore/blob-store.ts';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { storageProblems } from '../../support/storage-invariants.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

/** The real store, whose staged writes the test can hold back: a conversion started meanwhile cannot land. */
class HeldWrites implements BlobStore {
  readonly #store: BlobStore;
  #held: PromiseWithResolvers<void> | null = null;

  constructor(store: BlobStore) {
    this.#store = store;
  }

  hold(): void {
    this.#held = Promise.withResolvers<void>();
  }

  release(): void {
    this.#held?.resolve();
    this.#held = null;
  }

  async stage(options?: { signal?: AbortSignal }): Promise<StagedBlob> {
    await this.#held?.promise;
    return this.#store.stage(options);
  }

  stat(digest: string): Promise<BlobStat | null> {
    return this.#store.stat(digest);
  }

  open(digest: string, options?: { range?: ByteRange; signal?: AbortSignal }): Promise<Readable> {
    return this.#store.open(digest, options);
  }

  async put(digest: string, bytes: Buffer): Promise<void> {
    await this.#held?.promise;
    return this.#store.put(digest, bytes);
  }

  delete(digest: string): Promise<void> {
    return this.#store.delete(digest);
  }

  sweepStaging(olderThanMs: number): Promise<number> {
    return this.#store.sweepStaging(olderThanMs);
  }

  redirectUrl(digest: string): Promise<string | null> {
    return this.#store.redirectUrl(digest);
  }
}

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string }>;
}

function ociError(res: ServerInjectResponse): { code: string; message: string } {
  return (JSON.parse(res.payload) as { errors: Array<{ code: string; message: string }> }).errors[0] as { code: string; message: string };
}

let serial = 0;

for (const database of eachDatabase()) {
  describe(`a blob lost from the filesystem blobstore (${database.name})`, { skip: await database.skipReason() }, () => {
    let work: string;
    let handle: TestDatabase | undefined;
    let registry: TestRegistry;
    let held: HeldWrites;
    const rootfsPath = () => join(work, 'rootfs.tgz');
    const dropletsDir = () => join(work, 'droplets');
    const inject = (method: 'GET' | 'HEAD', url: string) => registry.registry.server.inject({ method, url });
    const blobFile = (digest: string) => join(registry.dataDir, 'blobstore', 'blobs', 'sha256', digest.slice('sha256:'.length));
    const open = (dataDir?: string) =>
      createTestRegistry({ databaseUrl: handle?.url, dataDir, stacks: { cflinuxfs4: rootfsPath() }, dropletsDir: dropletsDir(), wrapBlobStore: (store) => (held = new HeldWrites(store)) });

    /** A new app with a converted image: its repository and manifest. */
    async function convertedApp(): Promise<{ repository: string; manifest: Manifest; manifestDigest: string }> {
      serial += 1;
      const app = `app-${serial}`;
      const guid = `00000000-0000-4000-8000-${String(serial).padStart(12, '0')}`;
      const bytes = await standardDroplet({ startCommand: './run', files: { 'app/payload.bin': randomBytes(64 * 1024) } });
      await writeDroplet(dropletsDir(), { org: 'org', space: 'space', app, guid, bytes, json: { guid, state: 'STAGED' } });
      const repository = `org/space/${app}`;
      const res = await inject('GET', `/v2/${repository}/manifests/latest`);
      assert.equal(res.statusCode, 200, res.payload);
      return { repository, manifest: JSON.parse(res.payload) as Manifest, manifestDigest: String(res.headers['docker-content-digest']) };
    }

    /** Pulls every blob of the manifest, checking each against its digest. */
    async function pullsWhole(repository: string, manifest: Manifest): Promise<void> {
      for (const { digest } of [manifest.config, ...manifest.layers]) {
        const res = await registry.registry.server.inject({ method: 'GET', url: `/v2/${repository}/blobs/${digest}` });
        assert.equal(res.statusCode, 200, `${digest}: ${res.payload}`);
        assert.equal(`sha256:${createHash('sha256').update(res.rawPayload).digest('hex')}`, digest);
      }
    }

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'lost-blob-'));
      await writeFile(rootfsPath(), await buildTinyRootfs());
      handle = database.name === 'postgres' ? await database.create() : undefined;
      registry = await open();
    });

    after(async () => {
      held?.release();
      await registry?.close();
      await handle?.cleanup();
      await rm(work, { recursive: true, force: true });
    });

    for (const part of ['droplet layer', 'config'] as const) {
      it(`its ${part}: GET answers 404 BLOB_UNKNOWN, nothing stale is served, and the image is converted again`, async (t) => {
        const { repository, manifest, manifestDigest } = await convertedApp();
        // stack, lifecycle, droplet: the droplet's layer is the top one.
        const lost = part === 'config' ? manifest.config.digest : String(manifest.layers[2]?.digest);
        const blobUrl = `/v2/${repository}/blobs/${lost}`;
        await unlink(blobFile(lost));
        held.hold();
        t.after(() => held.release());

        const get = await inject('GET', blobUrl);
        assert.equal(get.statusCode, 404, get.payload);
        assert.equal(ociError(get).code, 'BLOB_UNKNOWN');
        assert.match(ociError(get).message, /missing from the blobstore/);
        const line = registry.logs.findLast((entry) => entry.event === 'blob.lost');
        assert.equal(line?.digest, lost, 'the log names the lost blob');

        // The conversion that writes it again is held back: meanwhile nothing says the blob is there.
        const head = await inject('HEAD', blobUrl);
        assert.equal(head.statusCode, 404, 'HEAD no longer says 200');
        const byDigest = await inject('GET', `/v2/${repository}/manifests/${manifestDigest}`);
        assert.equal(byDigest.statusCode, 404, 'the manifest pointing at the lost blob is not served');
        assert.equal(ociError(byDigest).code, 'MANIFEST_UNKNOWN');

        held.release();
        // No pull by tag is needed: the image is converted again on its own, and found by digest once it lands.
        await waitFor('the image to be converted again', async () => (await inject('GET', `/v2/${repository}/manifests/${manifestDigest}`)).statusCode === 200);
        const byTag = await inject('GET', `/v2/${repository}/manifests/latest`);
        assert.equal(byTag.statusCode, 200, byTag.payload);
        assert.equal(byTag.headers['docker-content-digest'], manifestDigest, 'the same (reproducible) image');
        assert.equal((await inject('HEAD', blobUrl)).statusCode, 200);
        await pullsWhole(repository, manifest);
        const fsRoot = join(registry.dataDir, 'blobstore');
        assert.deepEqual(await storageProblems({ db: registry.registry.db, blobs: new FsBlobStore({ root: fsRoot }), fsRoot }), []);
      });
    }

    it("a stack's rootfs: GET and HEAD answer 404 BLOB_UNKNOWN, /readyz names it, and the next start imports it again", async () => {
      const { repository, manifest } = await convertedApp();
      const [row] = await registry.registry.db('imported_layers').where({ kind: 'rootfs', name: 'cflinuxfs4' }).select('layer_digest');
      const rootfs = String(row?.layer_digest);
      const blobUrl = `/v2/${repository}/blobs/${rootfs}`;
      await unlink(blobFile(rootfs));

      const get = await inject('GET', blobUrl);
      assert.equal(get.statusCode, 404, get.payload);
      assert.equal(ociError(get).code, 'BLOB_UNKNOWN');
      assert.match(ociError(get).message, /imports it again when it starts/);
      assert.equal((await inject('HEAD', blobUrl)).statusCode, 404);
      const readyz = await registry.registry.server.inject('/readyz');
      assert.equal(readyz.statusCode, 503);
      assert.match(readyz.payload, /the rootfs of stack cflinuxfs4 \(sha256:[0-9a-f]{64}\) is missing from the blobstore/);

      await registry.close({ keepData: true });
      registry = await open(registry.dataDir);
      assert.ok(registry.events.includes('import.done'), 'the rootfs was imported again');
      assert.equal((await registry.registry.server.inject('/readyz')).statusCode, 200);
      await pullsWhole(repository, manifest);
    });
  });
}
