/**
 * The built registry with BLOBSTORE=azure on Azurite, pulled by real docker and skopeo: every layer
 * and the config are answered with a 307 to a read-only SAS URL on the storage account, which the
 * clients follow without the registry's credentials, and the image they get is the one converted.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAzurite, type AzuriteServer } from '../support/azurite.ts';
import { standardDroplet } from '../support/build-droplet.ts';
import { provisionDockerd, startDockerd } from '../support/clients/dockerd.ts';
import { makeScratchDir, removeScratchDir } from '../support/clients/scratch-dir.ts';
import { sharedClient } from '../support/clients/shared-client.ts';
import { createSkopeo, provisionSkopeo } from '../support/clients/skopeo.ts';
import { startRegistry, type RunningRegistry } from '../support/start-registry.ts';
import { buildTinyRootfs } from '../support/test-registry.ts';

const CONTAINER = 'droplet-registry';
const APP = { org: 'azure-org', space: 'dev', app: 'hello', guid: 'a2c1e2b3-0c4d-4e5f-8a6b-7c8d9e0f1a2b' };
const REPOSITORY = `${APP.org}/${APP.space}/${APP.app}`;
const TEST_TIMEOUT = { timeout: 600_000 };

const dockerd = sharedClient(provisionDockerd, startDockerd, (client) => client.stop());
const skopeo = sharedClient(provisionSkopeo, async () => createSkopeo(), (client) => client.dispose());

describe('docker and skopeo pull through redirects to Azure Blob Storage (Azurite)', () => {
  let work: string;
  let azurite: AzuriteServer;
  let registry: RunningRegistry;
  let manifest: { config: { digest: string }; layers: Array<{ digest: string }> };

  before(async () => {
    work = makeScratchDir('e2e-azure-pull');
    azurite = await startAzurite();
    await azurite.createContainer(CONTAINER);
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    const appDir = join(work, 'droplets', APP.org, APP.space, APP.app);
    await mkdir(appDir, { recursive: true });
    await writeFile(join(appDir, `${APP.guid}.tgz`), await standardDroplet({ startCommand: './run.sh' }));
    await writeFile(
      join(appDir, `${APP.guid}.json`),
      JSON.stringify({ guid: APP.guid, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } }),
    );
    registry = await startRegistry({
      env: {
        SOURCE: 'directory',
        AUTH: 'none',
        DROPLETS_DIR: join(work, 'droplets'),
        STACKS: `cflinuxfs4=${rootfs}`,
        BLOBSTORE: 'azure',
        AZURE_ACCOUNT_NAME: azurite.accountName,
        AZURE_ACCOUNT_KEY: azurite.accountKey,
        AZURE_CONTAINER: CONTAINER,
        AZURE_PREFIX: 'registry',
        AZURE_ENDPOINT: azurite.endpoint,
      },
    });
    const response = await fetch(`${registry.url}/v2/${REPOSITORY}/manifests/latest`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(response.status, 200, await response.clone().text());
    manifest = (await response.json()) as typeof manifest;
  });

  after(async () => {
    await Promise.allSettled([dockerd.stop(), skopeo.stop()]);
    await registry?.stop();
    await azurite?.stop();
    if (work) removeScratchDir(work);
  });

  /** The blobs are in the container, and each blob GET of the pull was answered with a redirect to it. */
  async function assertPulledThroughRedirects(logsBefore: number): Promise<void> {
    const digests = [manifest.config.digest, ...manifest.layers.map((layer) => layer.digest)];
    const stored = await azurite.listKeys(CONTAINER, 'registry/blobs/sha256/');
    for (const digest of digests) assert.ok(stored.includes(digest.slice('sha256:'.length)), `${digest} is in the container`);
    const logs = registry.logs().slice(logsBefore);
    for (const digest of digests) {
      assert.ok(logs.includes(`/v2/${REPOSITORY}/blobs/${digest} 307`), `the client's GET of ${digest} was redirected\n${logs.slice(-3000)}`);
    }
    const sent = await fetch(`${registry.url}/v2/${REPOSITORY}/blobs/${manifest.layers[0]?.digest}`, { redirect: 'manual' });
    assert.ok(sent.headers.get('location')?.startsWith(`${azurite.endpoint}/${CONTAINER}/registry/blobs/sha256/`), 'redirected to the storage account');
  }

  test('is ready: /readyz reads the base layers from the container and makes its test write there', async () => {
    const response = await fetch(`${registry.url}/readyz`);
    const body = (await response.json()) as { checks: Record<string, { ok: boolean }> };
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.deepEqual([body.checks.blobstore?.ok, body.checks['blobstore-write']?.ok], [true, true]);
    assert.deepEqual(await azurite.listKeys(CONTAINER, 'registry/staging/'), [], 'the test write is gone');
  });

  test('docker pull', TEST_TIMEOUT, async (t) => {
    const client = await dockerd.get(t);
    if (!client) return;
    const logsBefore = registry.logs().length;
    const image = `${registry.host}/${REPOSITORY}:latest`;
    await withRegistryLogs(client.docker(['pull', image]));
    const inspected = await client.docker(['image', 'inspect', '--format', '{{json .RootFS.Layers}}', image]);
    assert.equal(JSON.parse(inspected.stdout).length, manifest.layers.length, 'every layer arrived');
    await assertPulledThroughRedirects(logsBefore);
  });

  test('skopeo copy', TEST_TIMEOUT, async (t) => {
    const client = await skopeo.get(t);
    if (!client) return;
    const logsBefore = registry.logs().length;
    const layout = join(work, 'layout');
    await withRegistryLogs(client.copyToOciLayout(`${registry.host}/${REPOSITORY}:latest`, layout, 'latest'));
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    const copied = JSON.parse(await readFile(join(layout, 'blobs', 'sha256', (index.manifests[0]?.digest ?? '').slice('sha256:'.length)), 'utf8')) as typeof manifest;
    assert.deepEqual(copied.layers.map((layer) => layer.digest), manifest.layers.map((layer) => layer.digest));
    await assertPulledThroughRedirects(logsBefore);
  });

  /** A failed client command shows the registry's log too. */
  async function withRegistryLogs<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- registry logs ---\n${registry.logs().slice(-4000)}`, { cause: error });
    }
  }
});
