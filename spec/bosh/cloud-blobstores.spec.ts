/**
 * The Azure and GCS blobstores in BOSH: use-azure-blobstore.yml and use-gcs-blobstore.yml
 * interpolated by the real bosh CLI (../shared/tools/bosh, every variable resolved: --var-errs)
 * against cf-deployment v58 with its own Azure and GCS blobstore ops-files, in the orders
 * manifests/README.md lists as tested, the registry sharing
 * Cloud Controller's storage account or HMAC key; the job's azure properties (the shapes of
 * cf-deployment's use-azure-storage-blobstore.yml) rendered into the configuration the service loads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { openBlobStore } from '../../src/wiring/open-blob-store.ts';
import { skipOrFail } from '../support/requirements.ts';
import { cfDeploymentProblem, documentedDeployments, interpolateCfDeployment, operatorInputs, type InterpolatedManifest } from './support/cf-deployment.ts';
import { defaultLinks, merge, minimalProperties, RenderError, renderTemplate, requireRuby, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-cloud-blobstores-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function loadRendered(json: string) {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, json);
  return loadConfig({ file, env: {} });
}

/**
 * `bosh int` of the deployment manifests/README.md lists as tested under `name`, as an operator
 * deploys it: every variable resolved (cf-deployment's generated ones from the shared vars store),
 * the values of its example vars file, and the directory keys use-external-blobstore.yml asks for.
 */
async function interpolateDocumented(name: string): Promise<InterpolatedManifest> {
  const deployment = documentedDeployments().find((row) => row.name === name);
  assert.ok(deployment, `manifests/README.md's Tested table has no row "${name}"`);
  const tokenKeyFile = join(scratch, 'token-key.pem');
  writeFileSync(tokenKeyFile, TOKEN_SIGNING_KEY);
  return interpolateCfDeployment({
    cfOpsFiles: deployment.cfOpsFiles,
    opsFiles: deployment.opsFiles,
    resolve: true,
    ...operatorInputs(deployment, { tokenKeyFile }),
  });
}

/** The registry's job as the director renders it from the interpolated manifest. */
async function renderedConfig(properties: unknown, t: TestContext) {
  if (!requireRuby(t)) return null;
  return loadRendered(await renderTemplate('config.json.erb', { properties: properties as object, links: defaultLinks(2) }));
}

/** Where Cloud Controller keeps droplets in the interpolated manifest. */
function ccDroplets(manifest: InterpolatedManifest): Record<string, Record<string, string>> {
  return (manifest.job('api', 'cloud_controller_ng').properties as { cc: { droplets: Record<string, Record<string, string>> } }).cc.droplets;
}

describe('ops-files on cf-deployment v58, interpolated by the bosh CLI', { skip: skipOrFail(cfDeploymentProblem()) }, () => {
  it("use-azure-blobstore.yml: the registry in Cloud Controller's storage account (use-azure-storage-blobstore.yml), in a container of its own", async (t) => {
    const manifest = await interpolateDocumented("an Azure blobstore (Cloud Controller's storage account)");
    assert.doesNotMatch(manifest.text, /\(\([a-z_]+\)\)/, 'every variable resolved');
    const cc = ccDroplets(manifest).connection_config as Record<string, string>;
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: { blobstore: { type: string; azure: Record<string, string> } } };
    const azure = properties.droplet_registry.blobstore.azure;
    assert.equal(properties.droplet_registry.blobstore.type, 'azure');
    assert.deepEqual(
      [azure.environment, azure.azure_storage_account_name, azure.azure_storage_access_key],
      [cc.environment, cc.azure_storage_account_name, cc.azure_storage_access_key],
      "Cloud Controller's account, key and environment",
    );
    assert.notEqual(azure.container_name, cc.container_name, "not Cloud Controller's droplet container");
    assert.equal(manifest.group('droplet-registry').instances, 2);

    const config = await renderedConfig(properties, t);
    if (!config) return;
    assert.deepEqual(config.blobstore.type, 'azure');
    assert.deepEqual(config.blobstore.azure, {
      accountName: 'myfoundationblobs',
      accountKey: azure.azure_storage_access_key,
      sasToken: '',
      container: 'droplet-registry',
      prefix: '',
      endpoint: 'https://myfoundationblobs.blob.core.windows.net',
      sasExpirySeconds: 1200,
    });
  });

  it("use-gcs-blobstore.yml: GCS's XML API with Cloud Controller's HMAC key (use-gcs-blobstore-access-key.yml), clients sent to V4-signed URLs on storage.googleapis.com", async (t) => {
    const manifest = await interpolateDocumented("a GCS blobstore (Cloud Controller's HMAC key)");
    assert.doesNotMatch(manifest.text, /\(\([a-z_]+\)\)/, 'every variable resolved');
    const cc = ccDroplets(manifest).fog_connection as Record<string, string>;
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: { blobstore: { s3: Record<string, string> } } };
    const s3 = properties.droplet_registry.blobstore.s3;
    assert.deepEqual([s3.access_key_id, s3.secret_access_key], [cc.google_storage_access_key_id, cc.google_storage_secret_access_key], "Cloud Controller's HMAC key");

    const config = await renderedConfig(properties, t);
    if (!config) return;
    assert.deepEqual(
      [config.blobstore.type, config.blobstore.s3.endpoint, config.blobstore.s3.region, config.blobstore.s3.forcePathStyle, config.blobstore.s3.bucket],
      ['s3', 'https://storage.googleapis.com', 'auto', true, 'my-foundation-droplet-registry'],
    );
    // The redirect the registry would answer with, signed offline with the HMAC key.
    const digest = `sha256:${'ab'.repeat(32)}`;
    const url = new URL((await openBlobStore(config).redirectUrl(digest)) ?? '');
    assert.equal(`${url.origin}${url.pathname}`, `https://storage.googleapis.com/my-foundation-droplet-registry/blobs/sha256/${'ab'.repeat(32)}`);
    assert.equal(url.searchParams.get('X-Amz-Algorithm'), 'AWS4-HMAC-SHA256');
    assert.match(url.searchParams.get('X-Amz-Credential') ?? '', new RegExp(`^${s3.access_key_id}/\\d{8}/auto/s3/aws4_request$`));
    assert.equal(url.searchParams.get('X-Amz-Expires'), '1200');
    assert.ok(!url.href.includes(String(s3.secret_access_key)), 'the HMAC secret is not in the URL');
  });
});

describe('the azure properties of the job', () => {
  const withAzure = (azure: object) =>
    merge(minimalProperties(), { droplet_registry: { blobstore: { type: 'azure', azure: { azure_storage_account_name: 'cfblobs', azure_storage_access_key: 'a2V5', container_name: 'droplet-registry', ...azure } } } });

  it("derives the endpoint from cf-deployment's environment names, unless one is given", async (t) => {
    if (!requireRuby(t)) return;
    const endpoints: Record<string, string> = {
      AzureCloud: 'https://cfblobs.blob.core.windows.net',
      AzureChinaCloud: 'https://cfblobs.blob.core.chinacloudapi.cn',
      AzureUSGovernment: 'https://cfblobs.blob.core.usgovcloudapi.net',
      AzureGermanCloud: 'https://cfblobs.blob.core.cloudapi.de',
    };
    for (const [environment, endpoint] of Object.entries(endpoints)) {
      const config = loadRendered(await renderTemplate('config.json.erb', { properties: withAzure({ environment }) }));
      assert.equal(config.blobstore.azure.endpoint, endpoint, environment);
    }
    const given = loadRendered(
      await renderTemplate('config.json.erb', {
        properties: withAzure({ endpoint: 'https://cfblobs.privatelink.blob.core.windows.net', prefix: 'registry', sas_expiry_in_seconds: 600 }),
      }),
    );
    assert.deepEqual([given.blobstore.azure.endpoint, given.blobstore.azure.prefix, given.blobstore.azure.sasExpirySeconds], ['https://cfblobs.privatelink.blob.core.windows.net', 'registry', 600]);
  });

  it('takes a SAS token instead of the access key', async (t) => {
    if (!requireRuby(t)) return;
    const sas = 'sv=2025-01-05&sr=c&sp=racwdl&se=2027-01-01T00%3A00%3A00Z&sig=abc%2Bdef%3D';
    const config = loadRendered(await renderTemplate('config.json.erb', { properties: withAzure({ azure_storage_access_key: '', sas_token: sas }) }));
    assert.deepEqual([config.blobstore.azure.accountKey, config.blobstore.azure.sasToken], ['', sas]);
  });

  it('refuses an unknown environment and an endpoint under the registry host; leaves the rest to the registry', async (t) => {
    if (!requireRuby(t)) return;
    await assert.rejects(
      renderTemplate('config.json.erb', { properties: withAzure({ environment: 'AzureStack' }) }),
      (error: Error) => error instanceof RenderError && /droplet_registry\.blobstore\.azure\.environment must be one of AzureCloud, AzureChinaCloud, AzureUSGovernment, AzureGermanCloud/.test(error.message),
    );
    await assert.rejects(
      renderTemplate('config.json.erb', { properties: withAzure({ endpoint: 'https://blobs.registry.sys.example.com' }) }),
      /droplet_registry\.blobstore\.azure\.endpoint must not be the registry's host registry\.sys\.example\.com nor a subdomain/,
    );
    const rendered = await renderTemplate('config.json.erb', { properties: withAzure({ container_name: '', azure_storage_access_key: '' }) });
    assert.throws(() => loadRendered(rendered), /the azure blobstore needs blobstore\.azure\.container \(AZURE_CONTAINER\), one of blobstore\.azure\.accountKey \(AZURE_ACCOUNT_KEY\) and blobstore\.azure\.sasToken \(AZURE_SAS_TOKEN\)/);
  });
});
