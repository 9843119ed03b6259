/**
 * use-cf-blobstore.yml gives the registry a blobstore user of its own, and capi-release's blobstore
 * job accepts it: cf-deployment v58 with the documented ops-files interpolated by the real bosh
 * CLI (every variable generated), the blobstore job's own templates rendered by bosh-template's
 * engine from the result (its `write_users`: the basic-auth users of the internal server's
 * `/admin/`), and its nginx run with them (support/capi-blobstore.ts). With the user, password
 * and CA the registry's job renders, a write to `/admin/` over TLS is accepted; a wrong password is
 * not; Cloud Controller's own user still is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config/load-config.ts';
import { nginxBlobstoreProblem } from '../support/nginx-blobstore.ts';
import { provisionCommands, skipOrFail } from '../support/requirements.ts';
import { CAPI_RELEASE_COMMIT, copiedBlobIds, renderCapiBlobstore, startCapiBlobstore, UPSTREAM_BLOB_IDS, type CapiBlobstore } from './support/capi-blobstore.ts';
import { cfDeploymentProblem, documentedDeployments, interpolateCfDeployment, type InterpolatedManifest } from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { boshTemplateProblem, defaultLinks, renderJob, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const run = promisify(execFile);
const problem = cfDeploymentProblem() ?? boshTemplateProblem() ?? nginxBlobstoreProblem() ?? provisionCommands({ curl: 'curl' });
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-cf-blobstore-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface AdminUser {
  readonly username: string;
  readonly password: string;
}

it(`the copy of capi-release's blobstore job is verbatim (cloudfoundry/capi-release at ${CAPI_RELEASE_COMMIT.slice(0, 8)})`, () => {
  assert.deepEqual(copiedBlobIds(), UPSTREAM_BLOB_IDS);
});

describe("use-cf-blobstore.yml: the registry's own user in capi-release's blobstore job", { skip: skipOrFail(problem) }, () => {
  let manifest: InterpolatedManifest;
  let admins: AdminUser[];
  let registry: { username: string; password: string; caFile: string; directoryKey: string };
  let blobstore: CapiBlobstore | undefined;

  before(async () => {
    const row = documentedDeployments().find((candidate) => candidate.opsFiles.includes('use-cf-blobstore.yml') && candidate.cfOpsFiles.includes('use-postgres.yml'));
    assert.ok(row, "manifests/README.md's Tested table has use-cf-blobstore.yml on cf-deployment's PostgreSQL");
    const tokenKeyFile = join(scratch, 'token-key.pem');
    writeFileSync(tokenKeyFile, TOKEN_SIGNING_KEY);
    manifest = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: row.opsFiles, resolve: true, varFiles: { droplet_registry_token_signing_key: tokenKeyFile } });
    admins = (manifest.job('singleton-blobstore', 'blobstore').properties as { blobstore: { admin_users: AdminUser[] } }).blobstore.admin_users;

    // The registry's job as the director renders it, with Cloud Controller's links.
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties ?? {};
    const links = { ...defaultLinks(manifest.group('droplet-registry').instances), ...cloudControllerLinks(manifest.manifest) };
    const files = await renderJob({ properties, links, templates: ['config.json.erb', 'webdav_blobstore_ca.crt.erb'] });
    const configFile = join(scratch, 'config.json');
    writeFileSync(configFile, files['config/config.json'] as string);
    const { webdav } = loadConfig({ file: configFile, env: {} }).blobstore;
    const caFile = join(scratch, 'webdav_blobstore_ca.crt');
    writeFileSync(caFile, files['config/certs/webdav_blobstore_ca.crt'] as string);
    registry = { username: webdav.username, password: webdav.password, caFile, directoryKey: webdav.directoryKey };
  });
  after(() => blobstore?.stop());

  it("renders the registry's user into the job's write_users beside Cloud Controller's, with the password the registry's job has", async () => {
    const properties = manifest.job('singleton-blobstore', 'blobstore').properties ?? {};
    const users = (await renderCapiBlobstore(properties, ['write_users.erb']))['config/write_users'] as string;
    const lines = users.split('\n').filter((line) => line.trim() !== '');
    assert.deepEqual(
      lines.map((line) => line.split(':')[0]),
      ['blobstore-user', 'droplet_registry'],
    );
    assert.ok(lines.includes(`${registry.username}:{PLAIN}${registry.password}`), 'the user and password config.json gives the registry');
    assert.notEqual(registry.password, admins.find((user) => user.username === 'blobstore-user')?.password, "not Cloud Controller's password");
  });

  it("accepts the registry's writes to /admin/ over TLS verified with the CA the registry trusts; refuses a wrong password", async () => {
    blobstore = await startCapiBlobstore(manifest.job('singleton-blobstore', 'blobstore').properties ?? {});
    const body = join(scratch, 'blob');
    writeFileSync(body, 'layer bytes');
    // blobstore.service.cf.internal, the name in the blobstore's certificate, resolved to loopback for curl only.
    const put = async (user: AdminUser, path: string) => {
      const { stdout } = await run('curl', [
        '--silent',
        '--show-error',
        '--noproxy',
        '*',
        '--cacert',
        registry.caFile,
        '--resolve',
        `blobstore.service.cf.internal:${blobstore?.internalPort}:127.0.0.1`,
        '--user',
        `${user.username}:${user.password}`,
        '--upload-file',
        body,
        '--output',
        '/dev/null',
        '--write-out',
        '%{http_code}',
        `https://blobstore.service.cf.internal:${blobstore?.internalPort}/admin/${path}`,
      ]);
      return Number(stdout);
    };
    assert.equal(await put(registry, `${registry.directoryKey}/probe`), 201);
    assert.equal(readFileSync(join(blobstore.storeDir, registry.directoryKey, 'probe'), 'utf8'), 'layer bytes');
    assert.equal(await put({ username: registry.username, password: `${registry.password}x` }, `${registry.directoryKey}/refused`), 401);
    assert.equal(await put(admins.find((user) => user.username === 'blobstore-user') as AdminUser, 'cc-droplets/probe'), 201, "Cloud Controller's user is untouched");
  });
});
