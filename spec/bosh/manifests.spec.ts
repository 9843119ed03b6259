/**
 * The ops-files of manifests/, applied by the real bosh CLI (../shared/tools/bosh `int`) to
 * cf-deployment v58.0.0 as released: what each adds and changes in the manifest an operator
 * deploys, which variables each leaves to the operator (the example vars files) or to CredHub,
 * which orders fail and how, and the job rendered from the result with bosh-template's engine into
 * a configuration the service loads. Every deployment manifests/README.md lists as tested is
 * interpolated with every variable resolved in documented-deployments.spec.ts; the deployment
 * commands the documentation shows are checked here to be among them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load-config.ts';
import { skipOrFail } from '../support/requirements.ts';
import {
  cfDeploymentProblem,
  documentedDeployments,
  EXAMPLE_VARS_DIR,
  interpolateCfDeployment,
  MANIFESTS_DIR,
  type DocumentedDeployment,
  type InterpolatedManifest,
} from './support/cf-deployment.ts';
import { cloudControllerLinks } from './support/cloud-controller-links.ts';
import { defaultLinks, readJobSpec, RenderError, renderJob, REPOSITORY_ROOT, requireRuby, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const OPS_FILES = readdirSync(MANIFESTS_DIR).filter((name) => name.endsWith('.yml'));
const DEPLOYMENTS = documentedDeployments();
const CERTS = '/var/vcap/jobs/droplet-registry/config/certs';
const GIB = 2 ** 30;
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-manifests-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const tokenKeyFile = join(scratch, 'token-key.pem');
writeFileSync(tokenKeyFile, TOKEN_SIGNING_KEY);

/** The documented deployment named `name` (a row of the Tested table). */
function deployment(name: string): DocumentedDeployment {
  const found = DEPLOYMENTS.find((row) => row.name === name);
  assert.ok(found, `manifests/README.md's Tested table has no row "${name}"`);
  return found;
}

const POSTGRES_WEBDAV = "cf-deployment's PostgreSQL and WebDAV blobstore";

/** A deployment's manifest with its variables (but system_domain) left as `((names))`, and its `variables` section. */
function unresolved(row: DocumentedDeployment, extraOpsFiles: string[] = []): Promise<InterpolatedManifest> {
  return interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: [...row.opsFiles, ...extraOpsFiles] });
}

function exampleVars(opsFile: string): Record<string, unknown> {
  try {
    return parseYaml(readFileSync(join(EXAMPLE_VARS_DIR, `vars-${opsFile}`), 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Loads rendered config.json text with the service's real loader and an empty environment. */
function loadRendered(json: string) {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, json);
  return loadConfig({ file, env: {} });
}

/** Renders the droplet-registry job of an interpolated manifest with the links the director would give it. */
function renderRegistry(interpolated: InterpolatedManifest, templates?: string[]) {
  const properties = interpolated.job('droplet-registry', 'droplet-registry').properties ?? {};
  const links = { ...defaultLinks(interpolated.group('droplet-registry').instances), ...cloudControllerLinks(interpolated.manifest) };
  return renderJob({ properties, links, templates });
}

/**
 * The variables ops-file `name` brings in, with the CLI: those referenced once it is applied (after
 * the ops-files before it in the first tested deployment that has it) and not before.
 */
function introducedVariables(name: string): Promise<{ introduced: string[]; generated: Set<string> }> {
  let found = introduced.get(name);
  if (!found) introduced.set(name, (found = findIntroducedVariables(name)));
  return found;
}
const introduced = new Map<string, Promise<{ introduced: string[]; generated: Set<string> }>>();

async function findIntroducedVariables(name: string): Promise<{ introduced: string[]; generated: Set<string> }> {
  const row = DEPLOYMENTS.find((candidate) => candidate.opsFiles.includes(name));
  assert.ok(row, `${name} is in no tested deployment`);
  const before = row.opsFiles.slice(0, row.opsFiles.indexOf(name));
  const without = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: before });
  const withIt = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: [...before, name] });
  const earlier = without.references();
  return {
    introduced: [...withIt.references()].filter((variable) => !earlier.has(variable)),
    generated: new Set((withIt.manifest.variables ?? []).map((variable) => variable.name)),
  };
}

/** The ordered ops-files of each `bosh … deploy`/`int` command in a Markdown file's code blocks. */
function documentedCommands(file: string): Array<{ cfOpsFiles: string[]; opsFiles: string[] }> {
  const text = readFileSync(join(REPOSITORY_ROOT, file), 'utf8');
  const blocks = [...text.matchAll(/```(?:sh|bash)?\n([\s\S]*?)```/g)].map((match) => (match[1] as string).replace(/\\\n\s*/g, ' '));
  return blocks
    .flatMap((block) => block.split('\n'))
    .filter((line) => /\bbosh\b.*\b(deploy|int)\b/.test(line) && line.includes(' -o '))
    .map((line) => {
      const files = [...line.matchAll(/-o\s+(\S+\.yml)/g)].map((match) => match[1] as string);
      return {
        cfOpsFiles: files.filter((path) => path.includes('operations/')).map((path) => path.slice(path.lastIndexOf('/') + 1)),
        opsFiles: files.filter((path) => !path.includes('operations/')).map((path) => path.slice(path.lastIndexOf('/') + 1)),
      };
    });
}

describe('ops-files on cf-deployment v58 (bosh int)', { skip: skipOrFail(cfDeploymentProblem()) }, () => {
  it('are lists of go-patch operations, each file starting with a comment, named verb-first in kebab-case', () => {
    assert.ok(OPS_FILES.length >= 8, OPS_FILES.join(', '));
    for (const name of OPS_FILES) {
      const text = readFileSync(join(MANIFESTS_DIR, name), 'utf8');
      assert.match(text, /^# /, `${name} starts with a comment saying what it does`);
      assert.match(name, /^(add|use|enable|disable|scale|set)-[a-z0-9-]+\.yml$/, `${name}: verb-first kebab-case`);
      const operations = parseYaml(text) as unknown;
      assert.ok(Array.isArray(operations) && operations.length > 0, `${name} is not a list of operations`);
      for (const operation of operations as Array<Record<string, unknown>>) {
        assert.ok(['replace', 'remove'].includes(operation.type as string) && typeof operation.path === 'string', `${name}: ${JSON.stringify(operation)}`);
      }
    }
  });

  it("every ops-file is in a deployment manifests/README.md lists as tested, and every deployment command of the docs is one of those", () => {
    const tested = new Set(DEPLOYMENTS.flatMap((row) => row.opsFiles));
    assert.deepEqual(OPS_FILES.filter((name) => !tested.has(name)), []);
    const orders = new Set(DEPLOYMENTS.map((row) => JSON.stringify([row.cfOpsFiles, row.opsFiles])));
    const commands = ['README.md', 'docs/bosh.md', 'manifests/README.md'].flatMap((file) => documentedCommands(file).map((command) => ({ file, ...command })));
    assert.ok(commands.length > 0, 'the docs show a deploy command');
    for (const { file, cfOpsFiles, opsFiles } of commands) {
      assert.ok(orders.has(JSON.stringify([cfOpsFiles, opsFiles])), `${file}: bosh deploy with ${[...cfOpsFiles, ...opsFiles].join(', ')} is not a tested deployment`);
    }
  });

  it('each tested deployment applied twice gives what it gives once (re-running a deploy adds nothing)', async () => {
    for (const row of DEPLOYMENTS) {
      const once = await unresolved(row);
      const twice = await unresolved(row, row.opsFiles);
      assert.equal(twice.text, once.text, row.name);
    }
  });

  describe(`${POSTGRES_WEBDAV}: add-droplet-registry.yml, use-cf-postgres-database.yml, use-cf-blobstore.yml`, () => {
    let base: InterpolatedManifest;
    let resolved: InterpolatedManifest;
    const registry = () => base.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: Record<string, Record<string, unknown>> };
    const route = () =>
      (base.job('droplet-registry', 'route_registrar').properties as { route_registrar: { routes: Array<Record<string, unknown>> } }).route_registrar.routes.find(
        (candidate) => candidate.name === 'droplet-registry',
      );

    before(async () => {
      const row = deployment(POSTGRES_WEBDAV);
      base = await unresolved(row);
      resolved = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: row.opsFiles, resolve: true, varFiles: { droplet_registry_token_signing_key: tokenKeyFile } });
    });

    it('runs two instances across availability zones, from the droplet-registry release', () => {
      const group = base.group('droplet-registry');
      assert.equal(group.instances, 2);
      assert.deepEqual(group.azs, ['z1', 'z2']);
      assert.deepEqual(base.manifest.releases.find((release) => release.name === 'droplet-registry'), { name: 'droplet-registry', version: 'latest' });
    });

    it("registers registry.<system_domain> on the registry's TLS port with tags, gorouter verifying its certificate, health-checked by the job's bin/healthy", () => {
      const registered = route();
      assert.ok(registered);
      assert.deepEqual(registered.uris, ['registry.sys.example.com']);
      assert.equal(registered.tls_port, registry().droplet_registry.port);
      assert.equal(registered.port, undefined, 'no plain HTTP route');
      assert.deepEqual(registered.tags, { component: 'droplet-registry' });
      const certificate = base.variable('droplet_registry_tls');
      assert.equal(certificate?.type, 'certificate');
      assert.equal(certificate?.update_mode, 'converge');
      const options = certificate?.options as { ca: string; alternative_names: string[]; extended_key_usage: string[] };
      assert.ok(options.alternative_names.includes(registered.server_cert_domain_san as string), "the name gorouter expects is in the registry's certificate");
      assert.deepEqual(options.extended_key_usage, ['server_auth']);
      assert.equal(options.ca, (base.variable('cc_tls')?.options as { ca: string }).ca, "service_cf_internal_ca, which gorouter's router.ca_certs trust");
      assert.deepEqual(registry().droplet_registry.tls, { certificate: '((droplet_registry_tls.certificate))', private_key: '((droplet_registry_tls.private_key))' });
      const health = registered.health_check as Record<string, string>;
      assert.ok(Object.values(readJobSpec().templates).some((destination) => `/var/vcap/jobs/droplet-registry/${destination}` === health.script_path));
      assert.match(health.timeout as string, /^\d+s$/);
      assert.equal((base.job('droplet-registry', 'route_registrar').properties as { nats: { tls: { enabled: boolean } } }).nats.tls.enabled, true);
    });

    it("creates the registry's UAA clients: client_credentials with cloud_controller.admin_read_only, and the password-grant login client", () => {
      const clients = (base.job('uaa', 'uaa').properties as { uaa: { clients: Record<string, Record<string, string>> } }).uaa.clients;
      const service = clients.droplet_registry as Record<string, string>;
      assert.equal(service['authorized-grant-types'], 'client_credentials');
      assert.equal(service.authorities, 'cloud_controller.admin_read_only');
      assert.equal(service.secret, registry().droplet_registry.uaa?.client_secret);
      const login = clients.droplet_registry_login as Record<string, string>;
      assert.equal(login['authorized-grant-types'], 'password');
      assert.equal(login.secret, registry().droplet_registry.uaa?.login_client_secret);
      assert.deepEqual(
        (login.scope as string).split(',').sort(),
        ['cloud_controller.admin', 'cloud_controller.admin_read_only', 'cloud_controller.global_auditor', 'cloud_controller.read', 'openid'],
        "docs/cloud-foundry.md's scopes for a login client of the registry's own",
      );
      for (const secret of ['uaa_clients_droplet_registry_secret', 'uaa_clients_droplet_registry_login_secret']) assert.deepEqual(base.variable(secret), { name: secret, type: 'password' });
      // No BOSH/CredHub variable type makes an EC key: the operator supplies it, as the example vars file shows.
      assert.equal(registry().droplet_registry.token?.signing_key, '((droplet_registry_token_signing_key))');
      assert.equal(base.variable('droplet_registry_token_signing_key'), undefined);
      assert.ok('droplet_registry_token_signing_key' in exampleVars('add-droplet-registry.yml'));
    });

    it("keeps the job's default stacks (cflinuxfs4's tarball and the set-up job's rootfs.tar) and colocates the set-up job that writes it", () => {
      assert.equal(registry().droplet_registry.stacks, undefined, 'the ops-file leaves the default to the job');
      const stacks = readJobSpec().properties['droplet_registry.stacks']?.default as Array<{ name: string; rootfs: string; foundation_rootfs: string }>;
      assert.deepEqual(stacks, [{ name: 'cflinuxfs4', rootfs: '/var/vcap/packages/cflinuxfs4/cflinuxfs4.tar.gz', foundation_rootfs: '/var/vcap/packages/cflinuxfs4/rootfs.tar' }]);
      assert.equal(base.job('droplet-registry', 'cflinuxfs4-rootfs-setup').release, 'cflinuxfs4');
    });

    it("use-cf-postgres-database.yml: a database and role of the registry's own on cf-deployment's Postgres", () => {
      const databases = (base.job('database', 'postgres').properties as { databases: { port: number; databases: Array<Record<string, unknown>>; roles: Array<Record<string, unknown>> } }).databases;
      assert.deepEqual(databases.databases.find((entry) => entry.name === 'droplet_registry'), { name: 'droplet_registry', citext: false, tag: 'droplet_registry' });
      const role = databases.roles.find((entry) => entry.name === 'droplet_registry');
      const database = registry().droplet_registry.database as Record<string, unknown>;
      assert.equal(role?.password, database.password);
      assert.equal(database.username, 'droplet_registry');
      assert.equal(database.port, databases.port);
      assert.ok(databases.databases.some((entry) => entry.name === 'cloud_controller'), "cloud_controller's database stays");
      assert.deepEqual(base.variable('droplet_registry_database_password'), { name: 'droplet_registry_database_password', type: 'password' });
    });

    it("use-cf-blobstore.yml: a blobstore user of the registry's own in the blobstore job's admin_users, its password generated; Cloud Controller's user stays", () => {
      const admins = (base.job('singleton-blobstore', 'blobstore').properties as { blobstore: { admin_users: Array<{ username: string; password: string }> } }).blobstore.admin_users;
      const webdav = (registry().droplet_registry.blobstore as { type: string; webdav: Record<string, string> }).webdav;
      assert.equal((registry().droplet_registry.blobstore as { type: string }).type, 'webdav');
      assert.deepEqual(admins, [
        { username: 'blobstore-user', password: '((blobstore_admin_users_password))' },
        { username: 'droplet_registry', password: '((droplet_registry_blobstore_password))' },
      ]);
      assert.deepEqual(webdav, { username: 'droplet_registry', password: '((droplet_registry_blobstore_password))', directory_key: 'droplet-registry' });
      assert.deepEqual(base.variable('droplet_registry_blobstore_password'), { name: 'droplet_registry_blobstore_password', type: 'password' });
    });

    it("renders a configuration the service loads: UAA logins with the operator's key, the blobstore as its own user on Cloud Controller's endpoints, a 20 GB storage budget", async (t) => {
      if (!requireRuby(t)) return;
      const files = await renderRegistry(resolved);
      const config = loadRendered(files['config/config.json'] as string);
      const properties = resolved.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: { uaa: Record<string, string>; blobstore: { webdav: Record<string, string> } } };
      assert.equal(config.auth, 'uaa');
      assert.deepEqual(config.token.signingKeys, [`${CERTS}/token_signing_key.pem`]);
      assert.equal(files['config/certs/token_signing_key.pem'], `${TOKEN_SIGNING_KEY}\n`);
      assert.equal(config.uaa.url, 'https://uaa.service.cf.internal:8443');
      assert.equal(config.uaa.loginClientId, 'droplet_registry_login');
      assert.equal(config.uaa.loginClientSecret, properties.droplet_registry.uaa.login_client_secret);
      assert.deepEqual(config.tls, { cert: `${CERTS}/tls.crt`, key: `${CERTS}/tls.key` });

      const admins = (resolved.job('singleton-blobstore', 'blobstore').properties as { blobstore: { admin_users: Array<{ username: string; password: string }>; secure_link: { secret: string } } }).blobstore;
      const own = admins.admin_users.find((user) => user.username === 'droplet_registry');
      const cc = admins.admin_users.find((user) => user.username === 'blobstore-user');
      assert.equal(config.blobstore.type, 'webdav');
      assert.equal(config.blobstore.webdav.username, 'droplet_registry');
      assert.equal(config.blobstore.webdav.password, own?.password);
      assert.notEqual(config.blobstore.webdav.password, cc?.password, "not Cloud Controller's password");
      assert.match(config.blobstore.webdav.password, /^[A-Za-z0-9]{20,}$/, 'a generated password');
      assert.equal(config.blobstore.webdav.secret, admins.secure_link.secret, "the blobstore's secure_link secret, from Cloud Controller's link");
      assert.equal(config.blobstore.webdav.privateEndpoint, 'https://blobstore.service.cf.internal:4443');
      assert.equal(config.blobstore.webdav.publicEndpoint, 'https://blobstore.sys.example.com');
      assert.equal(config.blobstore.webdav.caCert, `${CERTS}/webdav_blobstore_ca.crt`);
      assert.equal(config.storage.budgetBytes, 20 * GIB);
    });

    it('with add-droplet-registry.yml alone, fails to render naming the ops-files for a database and for a blobstore', async (t) => {
      if (!requireRuby(t)) return;
      const alone = await interpolateCfDeployment({ cfOpsFiles: ['use-postgres.yml'], opsFiles: ['add-droplet-registry.yml'], resolve: true, varFiles: { droplet_registry_token_signing_key: tokenKeyFile } });
      await assert.rejects(renderRegistry(alone, ['config.json.erb']), (error: Error) => {
        assert.ok(error instanceof RenderError);
        assert.match(error.message, /Error filling in template 'config\.json\.erb'/);
        assert.match(error.message, /droplet_registry\.database\.host is required: .*use-cf-postgres-database\.yml.*use-external-database\.yml/);
        assert.match(error.message, /2 instances: .*use-cf-blobstore\.yml.*use-s3-blobstore\.yml.*use-azure-blobstore\.yml.*use-gcs-blobstore\.yml.*use-filesystem-blobstore\.yml/);
        assert.doesNotMatch(error.message, /enable-unauthenticated-pulls|signing_key/);
        return true;
      });
    });

    it('given an empty signing key, fails to render naming its variable and the opt-out', async (t) => {
      if (!requireRuby(t)) return;
      const emptyKey = join(scratch, 'empty-key.pem');
      writeFileSync(emptyKey, '');
      const row = deployment(POSTGRES_WEBDAV);
      const interpolated = await interpolateCfDeployment({ cfOpsFiles: row.cfOpsFiles, opsFiles: row.opsFiles, resolve: true, varFiles: { droplet_registry_token_signing_key: emptyKey } });
      await assert.rejects(renderRegistry(interpolated, ['config.json.erb']), /droplet_registry\.token\.signing_key is required .*droplet_registry_token_signing_key.*enable-unauthenticated-pulls\.yml/);
    });
  });

  it('use-s3-blobstore.yml keeps two instances on the bucket of its variables, with nothing of the WebDAV blobstore', async () => {
    const manifest = await unresolved(deployment('an S3 blobstore'));
    assert.equal(manifest.group('droplet-registry').instances, 2);
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: { blobstore: Record<string, unknown> } };
    assert.deepEqual(Object.keys(properties.droplet_registry.blobstore).sort(), ['s3', 'type']);
    assert.ok(!manifest.references().has('droplet_registry_blobstore_password'));
  });

  it('use-filesystem-blobstore.yml runs one instance on a disk of its own with an 80 GB budget; enable-unauthenticated-pulls.yml drops login', async () => {
    const manifest = await unresolved(deployment('one instance with its own disk, pulls without login'));
    const group = manifest.group('droplet-registry');
    assert.equal(group.instances, 1);
    assert.equal(group.persistent_disk_type, '100GB');
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: Record<string, Record<string, unknown>> };
    assert.deepEqual(properties.droplet_registry.storage, { budget_in_gb: 80 });
    assert.deepEqual(properties.droplet_registry.auth, { type: 'none', none_force: true });
    assert.ok(!manifest.references().has('droplet_registry_token_signing_key'), 'no signing key to supply');
    assert.equal((manifest.job('uaa', 'uaa').properties as { uaa: { clients: Record<string, unknown> } }).uaa.clients.droplet_registry_login, undefined);
    assert.equal(manifest.variable('uaa_clients_droplet_registry_login_secret'), undefined);
  });

  it("use-cf-blobstore.yml bounds the registry's share of Cloud Controller's disk whatever ops-file came before it", async () => {
    const manifest = await interpolateCfDeployment({ opsFiles: ['add-droplet-registry.yml', 'use-external-database.yml', 'use-filesystem-blobstore.yml', 'use-cf-blobstore.yml'] });
    const properties = manifest.job('droplet-registry', 'droplet-registry').properties as { droplet_registry: Record<string, Record<string, unknown>> };
    assert.deepEqual(properties.droplet_registry.storage, { budget_in_gb: 20 }, "not use-filesystem-blobstore.yml's 80 GB");
    assert.equal(properties.droplet_registry.blobstore?.type, 'webdav');
  });

  it("use-cf-postgres-database.yml needs cf-deployment's use-postgres.yml, and use-cf-blobstore.yml its WebDAV blobstore: the CLI says which path is missing", async () => {
    await assert.rejects(
      interpolateCfDeployment({ opsFiles: ['add-droplet-registry.yml', 'use-cf-postgres-database.yml'] }),
      /use-cf-postgres-database\.yml failed.*\/instance_groups\/name=database\/jobs\/name=postgres/s,
    );
    await assert.rejects(
      interpolateCfDeployment({ cfOpsFiles: ['use-external-blobstore.yml'], opsFiles: ['add-droplet-registry.yml', 'use-external-database.yml', 'use-cf-blobstore.yml'] }),
      /use-cf-blobstore\.yml failed.*\/instance_groups\/name=singleton-blobstore/s,
    );
    // add-droplet-registry.yml touches nothing cf-deployment's ops-files remove: it applies after use-external-blobstore.yml.
    await interpolateCfDeployment({ cfOpsFiles: ['use-external-blobstore.yml'], opsFiles: ['add-droplet-registry.yml', 'use-external-database.yml', 'use-s3-blobstore.yml'] });
  });
});

describe('example vars files and manifests/README.md', { skip: skipOrFail(cfDeploymentProblem()) }, () => {
  const readme = readFileSync(join(MANIFESTS_DIR, 'README.md'), 'utf8');
  const rows = new Map(
    readme
      .split('\n')
      .filter((line) => /^\| \[`[^`]+\.yml`\]/.test(line))
      .map((line) => [/`([^`]+\.yml)`/.exec(line)?.[1] as string, line]),
  );

  it('each vars file belongs to an ops-file, gives only variables it uses, and every variable it brings in that CredHub does not generate', async () => {
    for (const file of readdirSync(EXAMPLE_VARS_DIR)) {
      const opsFile = /^vars-(.+\.yml)$/.exec(file)?.[1];
      assert.ok(opsFile && OPS_FILES.includes(opsFile), `${file} names no ops-file`);
      const text = readFileSync(join(MANIFESTS_DIR, opsFile), 'utf8');
      const given = Object.keys(exampleVars(opsFile));
      assert.deepEqual(given.filter((variable) => !text.includes(`((${variable}`)), [], `${file} gives variables ${opsFile} does not use`);
    }
    for (const opsFile of OPS_FILES) {
      const { introduced, generated } = await introducedVariables(opsFile);
      const given = new Set(Object.keys(exampleVars(opsFile)));
      assert.deepEqual(introduced.filter((variable) => !generated.has(variable) && !given.has(variable)), [], `variables of ${opsFile} that nothing gives`);
    }
  });

  it('has a Name | Purpose | Variables row for every ops-file, naming the variables it brings in', async () => {
    assert.match(readme, /^\| Name \| Purpose \| Variables \|$/m);
    assert.deepEqual([...rows.keys()].sort(), [...OPS_FILES].sort());
    for (const opsFile of OPS_FILES) {
      const row = rows.get(opsFile) as string;
      for (const variable of (await introducedVariables(opsFile)).introduced) {
        const shortForm = variable.replace(/^droplet_registry_external_database_/, '_');
        assert.ok(row.includes(`\`${variable}\``) || row.includes(`\`${shortForm}\``), `${opsFile}'s row does not name ${variable}`);
      }
    }
  });
});
