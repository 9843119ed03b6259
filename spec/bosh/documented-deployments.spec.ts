/**
 * Every deployment manifests/README.md lists as tested, as an operator would deploy it: the
 * ops-files in the documented order interpolated by the real bosh CLI against cf-deployment v58
 * with every variable resolved, then the registry's job rendered by bosh-template's engine from
 * the result, with the links the director would give it (the system domain, its own instances,
 * Cloud Controller's), into a configuration the registry loads. The table is the test's input, so
 * the documentation cannot list an order that was not tried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { skipOrFail } from '../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem } from '../support/throwaway-ca.ts';
import { cfDeploymentProblem, documentedDeployments, interpolateCfDeployment, operatorInputs } from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { defaultLinks, renderJob, requireRuby, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const DEPLOYMENTS = documentedDeployments();
const CERTS = '/var/vcap/jobs/droplet-registry/config/certs';
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-documented-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the deployments manifests/README.md lists as tested, on cf-deployment v58', { skip: skipOrFail(cfDeploymentProblem() ?? throwawayCaProblem()) }, () => {
  const operatorFiles = { tokenKeyFile: join(scratch, 'token-key.pem'), databaseCaFile: join(scratch, 'database-ca.crt') };
  writeFileSync(operatorFiles.tokenKeyFile, TOKEN_SIGNING_KEY);
  writeFileSync(operatorFiles.databaseCaFile, makeThrowawayCertificates().ca);

  it('lists the database and blobstore choices and every variant ops-file, add-droplet-registry.yml first', () => {
    assert.ok(DEPLOYMENTS.length >= 5, `rows found under "## Tested": ${DEPLOYMENTS.map((row) => row.name).join('; ')}`);
    const used = new Set(DEPLOYMENTS.flatMap((row) => row.opsFiles));
    for (const opsFile of [
      'add-droplet-registry.yml',
      'use-cf-postgres-database.yml',
      'use-external-database.yml',
      'use-cf-blobstore.yml',
      'use-s3-blobstore.yml',
      'use-azure-blobstore.yml',
      'use-gcs-blobstore.yml',
      'use-filesystem-blobstore.yml',
      'enable-unauthenticated-pulls.yml',
    ]) {
      assert.ok(used.has(opsFile), `${opsFile} is in no tested deployment`);
    }
    for (const row of DEPLOYMENTS) assert.equal(row.opsFiles[0], 'add-droplet-registry.yml', `${row.name}: the registry's ops-files start with add-droplet-registry.yml`);
  });

  for (const deployment of DEPLOYMENTS) {
    it(`${deployment.name}: ${[...deployment.cfOpsFiles.map((file) => `operations/${file}`), ...deployment.opsFiles].join(' → ')}`, async (t) => {
      const interpolated = await interpolateCfDeployment({
        cfOpsFiles: deployment.cfOpsFiles,
        opsFiles: deployment.opsFiles,
        resolve: true,
        ...operatorInputs(deployment, operatorFiles),
      });
      const group = interpolated.group('droplet-registry');
      if (!requireRuby(t)) return;
      const links = { ...defaultLinks(group.instances), ...cloudControllerLinks(interpolated.manifest) };
      const properties = interpolated.job('droplet-registry', 'droplet-registry').properties ?? {};
      const files = await renderJob({ properties, links, templates: ['config.json.erb', 'cc_ca.crt.erb', 'tls.crt.erb', 'database_ca.crt.erb'] });
      const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, files['config/config.json'] as string);
      const config = loadConfig({ file, env: {} });
      assert.equal(config.source, 'capi');
      assert.equal(config.publicUrl, 'https://registry.sys.example.com');
      assert.equal(config.capi.url, 'https://cloud-controller-ng.service.cf.internal:9024');
      assert.equal(config.capi.caCert, `${CERTS}/cc_ca.crt`);
      assert.match(files['config/certs/cc_ca.crt'] as string, /^-----BEGIN CERTIFICATE-----/, "Cloud Controller's CA, from its link");
      assert.equal(config.uaa.url, 'https://uaa.service.cf.internal:8443');
      assert.deepEqual(config.tls, { cert: `${CERTS}/tls.crt`, key: `${CERTS}/tls.key` });
      assert.match(files['config/certs/tls.crt'] as string, /^-----BEGIN CERTIFICATE-----/, 'the certificate CredHub generates');
      const database = new URL(config.database.url);
      assert.equal(database.username, 'droplet_registry');
      if (deployment.opsFiles.includes('use-external-database.yml')) {
        // The example vars file's server, over TLS verified against its CA.
        assert.equal(database.host, 'registry-db.example.com:5432');
        assert.equal(database.searchParams.get('sslmode'), 'verify-full');
        assert.equal(config.database.caCert, `${CERTS}/database_ca.crt`);
      } else {
        assert.equal(database.host, 'sql-db.service.cf.internal:5524');
      }
      assert.equal(config.blobstore.type === 'fs', group.instances === 1, 'one instance exactly when blobs are on its own disk');
    });
  }
});
