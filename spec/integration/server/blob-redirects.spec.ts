/**
 * With the platform's blobstores, blob GETs redirect (307) to short-lived signed URLs that clients
 * fetch without the registry's credentials; HEAD stays local. Real s3rver, real nginx
 * (configured as capi-release's blobstore job) and Azurite serve the redirects.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/load-config.ts';
import { startAzurite, type AzuriteServer } from '../../support/azurite.ts';
import { openBlobStore } from '../../../src/wiring/open-blob-store.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { nginxBlobstoreProblem, startNginxBlobstore, type NginxBlobstore } from '../../support/nginx-blobstore.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface Backend {
  readonly name: string;
  skip(): string | false;
  start(): Promise<{ env: Record<string, string>; publicOrigin: string; stop(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 's3',
    skip: () => false,
    async start() {
      const s3: S3TestServer = await startS3Server();
      return {
        env: {
          BLOBSTORE: 's3',
          S3_BUCKET: s3.bucket,
          S3_REGION: s3.region,
          S3_ENDPOINT: s3.endpoint,
          S3_FORCE_PATH_STYLE: 'true',
          S3_ACCESS_KEY_ID,
          S3_SECRET_ACCESS_KEY,
          S3_PRESIGN_EXPIRY_SECONDS: '300',
        },
        publicOrigin: s3.endpoint,
        stop: () => s3.stop(),
      };
    },
  },
  {
    name: 'webdav',
    skip: () => skipOrFail(nginxBlobstoreProblem()),
    async start() {
      const nginx: NginxBlobstore = await startNginxBlobstore();
      return {
        env: {
          BLOBSTORE: 'webdav',
          WEBDAV_PRIVATE_ENDPOINT: nginx.privateEndpoint,
          WEBDAV_PUBLIC_ENDPOINT: nginx.publicEndpoint,
          WEBDAV_USERNAME: nginx.username,
          WEBDAV_PASSWORD: nginx.password,
          WEBDAV_SECRET: nginx.secret,
          WEBDAV_LINK_EXPIRY_SECONDS: '300',
        },
        publicOrigin: nginx.publicEndpoint,
        stop: () => nginx.stop(),
      };
    },
  },
  {
    name: 'azure',
    skip: () => false,
    async start() {
      const azurite: AzuriteServer = await startAzurite();
      await azurite.createContainer('droplet-registry');
      return {
        env: {
          BLOBSTORE: 'azure',
          AZURE_ACCOUNT_NAME: azurite.accountName,
          AZURE_ACCOUNT_KEY: azurite.accountKey,
          AZURE_CONTAINER: 'droplet-registry',
          AZURE_ENDPOINT: azurite.endpoint,
          AZURE_SAS_EXPIRY_SECONDS: '300',
        },
        publicOrigin: azurite.endpoint,
        stop: () => azurite.stop(),
      };
    },
  },
];

for (const backend of backends) {
  describe(`blob redirects to the ${backend.name} blobstore`, { skip: backend.skip() }, () => {
    let work: string;
    let store: Awaited<ReturnType<Backend['start']>>;
    let registry: TestRegistry;
    const rootfs = () => join(work, 'rootfs.tgz');
    const dropletsDir = () => join(work, 'droplets');

    before(async () => {
      store = await backend.start();
      work = await mkdtemp(join(tmpdir(), `redirects-${backend.name}-`));
      await writeFile(rootfs(), await buildTinyRootfs());
      await writeDroplet(dropletsDir(), { org: 'o', space: 's', app: 'a', guid: 'g1', bytes: await standardDroplet({ startCommand: './run' }) });
      registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfs() }, dropletsDir: dropletsDir(), env: store.env });
    });

    after(async () => {
      await registry?.close();
      await store?.stop();
      await rm(work, { recursive: true, force: true });
    });

    it('converts into the blobstore and redirects GETs to signed URLs that serve the exact bytes', async () => {
      const manifestResponse = await registry.registry.server.inject('/v2/o/s/a/manifests/latest');
      assert.equal(manifestResponse.statusCode, 200, manifestResponse.payload);
      const manifest = JSON.parse(manifestResponse.payload);
      for (const descriptor of [manifest.config, ...manifest.layers] as Array<{ digest: string; size: number }>) {
        const res = await registry.registry.server.inject(`/v2/o/s/a/blobs/${descriptor.digest}`);
        assert.equal(res.statusCode, 307);
        assert.equal(res.headers['docker-content-digest'], descriptor.digest);
        const location = res.headers.location as string;
        assert.ok(location.startsWith(store.publicOrigin), location);
        const fetched = await fetch(location, { headers: { 'accept-encoding': 'identity' } });
        assert.equal(fetched.status, 200);
        const bytes = Buffer.from(await fetched.arrayBuffer());
        assert.equal(bytes.length, descriptor.size);
        assert.equal(sha256(bytes), descriptor.digest);
      }
    });

    it('answers HEAD locally, without a redirect', async () => {
      const manifest = JSON.parse((await registry.registry.server.inject('/v2/o/s/a/manifests/latest')).payload);
      const res = await registry.registry.server.inject({ method: 'HEAD', url: `/v2/o/s/a/blobs/${manifest.layers[2].digest}` });
      assert.equal(res.statusCode, 200);
      assert.equal(Number(res.headers['content-length']), manifest.layers[2].size);
      assert.equal(res.headers.location, undefined);
    });

    it('still refuses blobs of other repositories before redirecting', async () => {
      const manifest = JSON.parse((await registry.registry.server.inject('/v2/o/s/a/manifests/latest')).payload);
      const res = await registry.registry.server.inject(`/v2/o/s/other/blobs/${manifest.layers[2].digest}`);
      assert.equal(res.statusCode, 404);
      assert.equal(res.headers.location, undefined);
    });

    it('with BLOBSTORE_CHECK_BEFORE_REDIRECT, a blob lost from the store answers 404 BLOB_UNKNOWN instead of a redirect, and is written again', async () => {
      const checking = await createTestRegistry({ stacks: { cflinuxfs4: rootfs() }, dropletsDir: dropletsDir(), env: { ...store.env, BLOBSTORE_CHECK_BEFORE_REDIRECT: 'true' } });
      try {
        const manifestResponse = await checking.registry.server.inject('/v2/o/s/a/manifests/latest');
        assert.equal(manifestResponse.statusCode, 200, manifestResponse.payload);
        const manifestDigest = String(manifestResponse.headers['docker-content-digest']);
        // stack, lifecycle, droplet: the droplet's layer is the top one.
        const dropletLayer = String(JSON.parse(manifestResponse.payload).layers[2].digest);
        const blobUrl = `/v2/o/s/a/blobs/${dropletLayer}`;
        await openBlobStore(loadConfig({ env: { ...store.env, DATA_DIR: work } })).delete(dropletLayer);

        // Without the check the client is sent to the store, which has lost it.
        const unchecked = await registry.registry.server.inject(blobUrl);
        assert.equal(unchecked.statusCode, 307);
        assert.equal((await fetch(unchecked.headers.location as string)).status, 404);

        const checked = await checking.registry.server.inject(blobUrl);
        assert.equal(checked.statusCode, 404, checked.payload);
        assert.equal((JSON.parse(checked.payload) as { errors: Array<{ code: string }> }).errors[0]?.code, 'BLOB_UNKNOWN');
        await waitFor('the image to be converted again', async () => (await checking.registry.server.inject(`/v2/o/s/a/manifests/${manifestDigest}`)).statusCode === 200);
        const again = await checking.registry.server.inject(blobUrl);
        assert.equal(again.statusCode, 307);
        const fetched = await fetch(again.headers.location as string, { headers: { 'accept-encoding': 'identity' } });
        assert.equal(fetched.status, 200);
        assert.equal(sha256(Buffer.from(await fetched.arrayBuffer())), dropletLayer);
      } finally {
        await checking.close();
      }
    });
  });
}
