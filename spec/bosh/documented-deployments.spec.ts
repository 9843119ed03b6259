/**
 * Every deployment manifests/README.md lists as tested, as an operator would deploy it: the
 * ops-files in the documented order interpolated by the real bosh CLI against cf-deployment v58
 * with every variable resolved, then the registry's job rendered by bosh-template's engine from
 * the result, with the links the director would give it (the system domain, its own instances,
 * Cloud Controller's), into a configuration the registry loads. The table is the test's input, so
 * the documentation cannot list an order that was not tried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load-config.ts';
import { skipOrFail } from '../support/requirements.ts';
import { cfDeploymentProblem, interpolateCfDeployment, MANIFESTS_DIR } from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { defaultLinks, renderTemplate, requireRuby, TOKEN_SIGNING_KEY } from './support/render-job.ts';

interface DocumentedDeployment {
  readonly name: string;
  readonly cfOpsFiles: string[];
  readonly opsFiles: string[];
  readonly varsFiles: string[];
}

/** The rows of the table under `## Tested` in manifests/README.md. */
function documentedDeployments(): DocumentedDeployment[] {
  const section = readFileSync(join(MANIFESTS_DIR, 'README.md'), 'utf8').split('\n## Tested\n')[1] ?? '';
  const rows = section.split('\n').filter((line) => line.startsWith('| ') && !line.startsWith('| deployment ') && !line.startsWith('|---'));
  return rows.map((row) => {
    const [name = '', files = '', vars = ''] = row.split('|').slice(1).map((cell) => cell.trim());
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1] as string);
    const ordered = names(files);
    return {
      name,
      cfOpsFiles: ordered.filter((file) => file.startsWith('operations/')).map((file) => file.slice('operations/'.length)),
      opsFiles: ordered.filter((file) => !file.startsWith('operations/')),
      varsFiles: names(vars),
    };
  });
}

const DEPLOYMENTS = documentedDeployments();
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-documented-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the deployments manifests/README.md lists as tested, on cf-deployment v58', { skip: skipOrFail(cfDeploymentProblem()) }, () => {
  it('lists the database choices and every variant ops-file', () => {
    assert.ok(DEPLOYMENTS.length >= 5, `rows found under "## Tested": ${DEPLOYMENTS.map((row) => row.name).join('; ')}`);
    const used = new Set(DEPLOYMENTS.flatMap((row) => row.opsFiles));
    for (const opsFile of ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-external-database.yml', 'use-s3-blobstore.yml', 'use-filesystem-blobstore.yml', 'enable-unauthenticated-pulls.yml']) {
      assert.ok(used.has(opsFile), `${opsFile} is in no tested deployment`);
    }
    for (const row of DEPLOYMENTS) assert.equal(row.opsFiles[0], 'add-droplet-registry.yml', `${row.name}: the registry's ops-files start with add-droplet-registry.yml`);
  });

  for (const deployment of DEPLOYMENTS) {
    it(`${deployment.name}: ${[...deployment.cfOpsFiles.map((file) => `operations/${file}`), ...deployment.opsFiles].join(' → ')}`, async (t) => {
      const keyFile = join(scratch, 'token-key.pem');
      writeFileSync(keyFile, TOKEN_SIGNING_KEY);
      const externalBlobstore = deployment.cfOpsFiles.includes('use-external-blobstore.yml');
      const interpolated = await interpolateCfDeployment({
        cfOpsFiles: deployment.cfOpsFiles,
        opsFiles: deployment.opsFiles,
        // One store per cf-deployment ops-file set: those change what cf-deployment's variables are.
        varsStore: join(scratch, `vars-store-${deployment.cfOpsFiles.join('+') || 'default'}.yml`),
        varsFiles: deployment.varsFiles.map((file) => join(MANIFESTS_DIR, 'example-vars-files', file)),
        varFiles: { droplet_registry_token_signing_key: keyFile },
        vars: externalBlobstore ? Object.fromEntries(['app_package', 'buildpack', 'droplet', 'resource'].map((kind) => [`${kind}_directory_key`, `cc-${kind}s`])) : {},
      });
      const group = interpolated.manifest.instance_groups.find((candidate) => candidate.name === 'droplet-registry');
      assert.ok(group, 'the droplet-registry instance group');
      if (!requireRuby(t)) return;
      const links = { ...defaultLinks(group.instances), ...cloudControllerLinks(interpolated.manifest) };
      const properties = interpolated.job('droplet-registry', 'droplet-registry').properties ?? {};
      const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
      writeFileSync(file, await renderTemplate('config.json.erb', { properties, links }));
      const config = loadConfig({ file, env: {} });
      assert.equal(config.publicUrl, 'https://registry.sys.example.com');
      assert.equal(config.capi.url, 'https://cloud-controller-ng.service.cf.internal:9024');
    });
  }
});
