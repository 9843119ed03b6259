/**
 * The registry learns Cloud Controller's address and CA (cloud_controller_https_endpoint) and where
 * CC keeps droplets (cloud_controller_internal) from the links capi-release's cloud_controller_ng
 * provides, instead of the ops-file copying them by hand; properties given explicitly still win
 * (a registry in a deployment of its own has no links). add-droplet-registry.yml is interpolated
 * by the real bosh CLI on cf-deployment v58, the links built from the result as the director
 * builds them, and the job rendered by bosh-template's engine into the configuration the service loads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { skipOrFail } from '../support/requirements.ts';
import { makeThrowawayCertificates } from '../support/throwaway-ca.ts';
import { cfDeploymentProblem, interpolateCfDeployment, type InterpolatedManifest } from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { defaultLinks, merge, minimalProperties, renderJob, requireRuby, TOKEN_SIGNING_KEY, type LinkSpec } from './support/render-job.ts';

const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-cc-links-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** config.json, cc_ca.crt and webdav_blobstore_ca.crt as the director renders them, config.json loaded by the service. */
async function render(t: TestContext, properties: object, links: Record<string, LinkSpec>) {
  if (!requireRuby(t)) return null;
  const files = await renderJob({ properties, links, templates: ['config.json.erb', 'cc_ca.crt.erb', 'webdav_blobstore_ca.crt.erb'] });
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, files['config/config.json'] as string);
  return { config: loadConfig({ file, env: {} }), ccCa: files['config/certs/cc_ca.crt'], webdavCa: files['config/certs/webdav_blobstore_ca.crt'] };
}

const CERTS = '/var/vcap/jobs/droplet-registry/config/certs';

describe("add-droplet-registry.yml on cf-deployment v58 (bosh int), with Cloud Controller's links", { skip: skipOrFail(cfDeploymentProblem()) }, () => {
  let interpolated: InterpolatedManifest;
  /** The same, variables left as they are: the `variables` section CredHub generates from. */
  let unresolved: InterpolatedManifest;
  let registryProperties: { droplet_registry: Record<string, unknown> };

  before(async () => {
    const keyFile = join(scratch, 'token-key.pem');
    writeFileSync(keyFile, TOKEN_SIGNING_KEY);
    const opsFiles = ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-cf-blobstore.yml'];
    interpolated = await interpolateCfDeployment({ cfOpsFiles: ['use-postgres.yml'], opsFiles, resolve: true, varFiles: { droplet_registry_token_signing_key: keyFile } });
    unresolved = await interpolateCfDeployment({ cfOpsFiles: ['use-postgres.yml'], opsFiles });
    registryProperties = interpolated.job('droplet-registry', 'droplet-registry').properties as typeof registryProperties;
  });

  it("copies none of Cloud Controller's values by hand: no cc.url or cc.ca_cert, no WebDAV endpoint, secret or CA (the user is the registry's own)", () => {
    const cc = registryProperties.droplet_registry.cc as Record<string, unknown>;
    assert.deepEqual(Object.keys(cc), ['droplet_blobstore_ca_cert'], 'only the router CA droplet downloads are redirected through');
    const blobstore = registryProperties.droplet_registry.blobstore as { type: string; webdav: Record<string, string> };
    assert.equal(blobstore.type, 'webdav');
    assert.deepEqual(Object.keys(blobstore.webdav).sort(), ['directory_key', 'password', 'username']);
  });

  it("reaches Cloud Controller at its internal name and TLS port with its CA, and the blobstore where Cloud Controller does, as its own user", async (t) => {
    const links = { ...defaultLinks(2), ...cloudControllerLinks(interpolated.manifest) };
    const rendered = await render(t, registryProperties, links);
    if (!rendered) return;
    const api = interpolated.job('api', 'cloud_controller_ng').properties as { cc: { public_tls: { ca_cert: string }; droplets: { connection_config: Record<string, string> } } };
    const dav = api.cc.droplets.connection_config;

    assert.equal(rendered.config.capi.url, 'https://cloud-controller-ng.service.cf.internal:9024');
    assert.equal(rendered.config.capi.caCert, `${CERTS}/cc_ca.crt`);
    assert.equal(rendered.ccCa?.trim(), api.cc.public_tls.ca_cert.trim(), "the CA of CC's certificate on that port");
    assert.deepEqual(
      {
        privateEndpoint: rendered.config.blobstore.webdav.privateEndpoint,
        publicEndpoint: rendered.config.blobstore.webdav.publicEndpoint,
        secret: rendered.config.blobstore.webdav.secret,
      },
      { privateEndpoint: dav.private_endpoint, publicEndpoint: dav.public_endpoint, secret: dav.secret },
    );
    assert.equal(rendered.config.blobstore.webdav.username, 'droplet_registry', "the registry's own user, not Cloud Controller's");
    assert.notEqual(rendered.config.blobstore.webdav.password, dav.password);
    assert.equal(rendered.config.blobstore.webdav.caCert, `${CERTS}/webdav_blobstore_ca.crt`);
    assert.equal(rendered.webdavCa?.trim(), dav.ca_cert?.trim());
    assert.equal(rendered.config.blobstore.webdav.directoryKey, 'droplet-registry');
    assert.equal(rendered.config.database.schema, 'public', "where postgres-release's grants let the role create tables");
  });

  it('registers the route with tags, and has its certificate converge to its options', () => {
    const routes = (interpolated.job('droplet-registry', 'route_registrar').properties as { route_registrar: { routes: Array<{ name: string; tags?: Record<string, string> }> } }).route_registrar.routes;
    assert.deepEqual(routes.find((route) => route.name === 'droplet-registry')?.tags, { component: 'droplet-registry' });
    const certificate = unresolved.manifest.variables?.find((variable) => variable.name === 'droplet_registry_tls');
    assert.equal(certificate?.update_mode, 'converge', 'CredHub regenerates it when its options (the system domain, the CA) change');
  });
});

describe("the job with and without Cloud Controller's links", () => {
  const ccCa = makeThrowawayCertificates().ca;
  const blobstoreCa = makeThrowawayCertificates().ca;
  const ownCa = makeThrowawayCertificates().ca;
  /** What capi-release's cloud_controller_ng provides in a cf-deployment with its WebDAV blobstore. */
  const ccLinks = (droplets: Record<string, unknown>): Record<string, LinkSpec> => ({
    ...defaultLinks(2),
    cloud_controller_https_endpoint: {
      instances: [{ name: 'api', index: 0, id: 'api-0', az: 'z1', address: '10.0.1.10' }],
      properties: { cc: { internal_service_hostname: 'cc.internal.example', public_tls: { port: 9443, ca_cert: ccCa } } },
    },
    cloud_controller_internal: { instances: [{ name: 'api', index: 0, id: 'api-0', az: 'z1', address: '10.0.1.10' }], properties: { cc: { droplets } } },
  });
  const storageCliDav = {
    blobstore_type: 'storage-cli',
    blobstore_provider: 'dav',
    connection_config: {
      username: 'blobstore-user',
      password: 'cc-password',
      private_endpoint: 'https://blobstore.internal.example:4443',
      public_endpoint: 'https://blobstore.sys.example.com',
      secret: 'cc-secret',
      ca_cert: blobstoreCa,
    },
  };
  const webdavProperties = (webdav: object) => merge(minimalProperties(), { droplet_registry: { blobstore: { type: 'webdav', webdav } } });

  it('explicit properties win over the links', async (t) => {
    const explicit = {
      private_endpoint: 'https://own-blobstore.example:4443',
      public_endpoint: 'https://own-blobstore.example',
      username: 'registry-user',
      password: 'own-password',
      secret: 'own-secret',
      ca_cert: ownCa,
    };
    const properties = merge(webdavProperties(explicit), { droplet_registry: { cc: { url: 'https://api.example.com', ca_cert: ownCa } } });
    const rendered = await render(t, properties, ccLinks(storageCliDav));
    if (!rendered) return;
    assert.equal(rendered.config.capi.url, 'https://api.example.com');
    assert.equal(rendered.ccCa?.trim(), ownCa.trim());
    const { privateEndpoint, publicEndpoint, username, password, secret } = rendered.config.blobstore.webdav;
    assert.deepEqual({ privateEndpoint, publicEndpoint, username, password, secret }, {
      privateEndpoint: explicit.private_endpoint,
      publicEndpoint: explicit.public_endpoint,
      username: explicit.username,
      password: explicit.password,
      secret: explicit.secret,
    });
    assert.equal(rendered.webdavCa?.trim(), ownCa.trim());
  });

  it("without the links (a deployment of its own): cf-deployment's addresses, no CA files, the WebDAV credentials from the properties", async (t) => {
    const rendered = await render(t, webdavProperties({ password: 'p', secret: 's' }), defaultLinks(2));
    if (!rendered) return;
    assert.equal(rendered.config.capi.url, 'https://cloud-controller-ng.service.cf.internal:9024');
    assert.equal(rendered.config.capi.caCert, '');
    assert.equal(rendered.ccCa?.trim(), '');
    const { privateEndpoint, publicEndpoint, username, caCert } = rendered.config.blobstore.webdav;
    assert.deepEqual({ privateEndpoint, publicEndpoint, username, caCert }, {
      privateEndpoint: 'https://blobstore.service.cf.internal:4443',
      publicEndpoint: 'https://blobstore.sys.example.com',
      username: 'blobstore-user',
      caCert: '',
    });
  });

  it("Cloud Controller on the older webdav blobstore type: its webdav_config, which has no secure_link secret (the property gives it)", async (t) => {
    const webdavConfig = { username: 'blobstore-user', password: 'cc-password', private_endpoint: 'https://blobstore.internal.example:4443', public_endpoint: 'https://blobstore.sys.example.com', ca_cert: blobstoreCa };
    const rendered = await render(t, webdavProperties({ secret: 'own-secret' }), ccLinks({ blobstore_type: 'webdav', webdav_config: webdavConfig }));
    if (!rendered) return;
    const { privateEndpoint, username, password, secret } = rendered.config.blobstore.webdav;
    assert.deepEqual({ privateEndpoint, username, password, secret }, { privateEndpoint: webdavConfig.private_endpoint, username: 'blobstore-user', password: 'cc-password', secret: 'own-secret' });
    assert.equal(rendered.webdavCa?.trim(), blobstoreCa.trim());
  });

  it("Cloud Controller's droplets elsewhere (S3): nothing of them reaches the WebDAV settings", async (t) => {
    const rendered = await render(t, webdavProperties({ password: 'p', secret: 's' }), ccLinks({ blobstore_type: 'storage-cli', blobstore_provider: 's3', connection_config: { bucket_name: 'cc-droplets', access_key_id: 'AKIA' } }));
    if (!rendered) return;
    assert.equal(rendered.config.blobstore.webdav.privateEndpoint, 'https://blobstore.service.cf.internal:4443');
    assert.equal(rendered.config.blobstore.webdav.password, 'p');
    assert.equal(rendered.config.capi.url, 'https://cc.internal.example:9443', 'the https endpoint link still gives the address');
  });
});
