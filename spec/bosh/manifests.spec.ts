/**
 * The ops-files of manifests/: go-patch operations whose paths resolve against a
 * cf-deployment-shaped manifest (spec/bosh/fixtures/cf-deployment.yml), whose variables are all
 * defined somewhere, and whose droplet-registry properties render through the job into a
 * configuration the service loads.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/load-config.ts';
import { makeThrowawayCertificates, throwawayCaProblem } from '../support/throwaway-ca.ts';
import { CF_DEPLOYMENT_DIR } from './support/cf-deployment.ts';
import { cloudControllerLinks, type ManifestWithApi } from './support/cloud-controller-links.ts';
import { applyOperations, checkOperation, find, type PatchOperation, type Yaml } from './support/go-patch.ts';
import { defaultLinks, readJobSpec, RenderError, renderJob, REPOSITORY_ROOT, requireRuby, TOKEN_SIGNING_KEY } from './support/render-job.ts';

const MANIFESTS = join(REPOSITORY_ROOT, 'manifests');
const VARS_FILES = join(MANIFESTS, 'example-vars-files');
const FIXTURE = parseYaml(readFileSync(join(import.meta.dirname, 'fixtures', 'cf-deployment.yml'), 'utf8')) as Yaml;
const OPS_FILES = readdirSync(MANIFESTS).filter((name) => name.endsWith('.yml'));
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-manifests-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** What operators apply, per choice (manifests/README.md): a database, and optionally another blobstore or no login. */
const DEPLOYMENTS: Record<string, string[]> = {
  "cf-deployment's Postgres": ['add-droplet-registry.yml', 'use-cf-postgres-database.yml'],
  'an external database': ['add-droplet-registry.yml', 'use-external-database.yml'],
  'an S3 blobstore': ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-s3-blobstore.yml'],
  'an Azure blobstore': ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-azure-blobstore.yml'],
  'a GCS blobstore': ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-gcs-blobstore.yml'],
  'one instance with its own disk, pulls without login': ['add-droplet-registry.yml', 'use-cf-postgres-database.yml', 'use-filesystem-blobstore.yml', 'enable-unauthenticated-pulls.yml'],
  'unauthenticated pulls on the shared blobstore': ['add-droplet-registry.yml', 'use-external-database.yml', 'enable-unauthenticated-pulls.yml'],
};

const JOB_PATH = '/instance_groups/name=droplet-registry/jobs/name=droplet-registry';

/** Loads rendered config.json text with the service's real loader and an empty environment. */
function loadRendered(json: string) {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, json);
  return loadConfig({ file, env: {} });
}

function readOpsFile(name: string): PatchOperation[] {
  const text = readFileSync(join(MANIFESTS, name), 'utf8');
  const operations = parseYaml(text) as unknown;
  assert.ok(Array.isArray(operations) && operations.length > 0, `${name} is not a list of operations`);
  return operations.map((operation, index) => checkOperation(operation, `${name}[${index}]`));
}

function apply(names: readonly string[], manifest: Yaml = FIXTURE): Yaml {
  return names.reduce((current, name) => applyOperations(current, readOpsFile(name)), manifest);
}

function exampleVars(opsFile: string): Record<string, Yaml> {
  try {
    return parseYaml(readFileSync(join(VARS_FILES, `vars-${opsFile}`), 'utf8')) as Record<string, Yaml>;
  } catch {
    return {};
  }
}

/** Every `((name))` or `((name.field))` in a document, by the variable's name. */
function variableReferences(document: Yaml): Set<string> {
  const names = new Set<string>();
  for (const match of JSON.stringify(document).matchAll(/\(\(([a-zA-Z0-9_/-]+)(?:\.[a-z_]+)?\)\)/g)) names.add(match[1] as string);
  return names;
}

const FAKE_CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const FAKE_KEY = '-----BEGIN EC PRIVATE KEY-----\nMHcfake\n-----END EC PRIVATE KEY-----\n';

/** Fills in `((variables))` as the director would: example vars files first, then generated-like values. */
function interpolate(document: Yaml, vars: Record<string, Yaml>): Yaml {
  const valueOf = (name: string, field: string | undefined): Yaml => {
    if (name in vars) {
      const value = vars[name] as Yaml;
      // A certificate variable's fields: ((name.certificate)), ((name.private_key)).
      return field && value && typeof value === 'object' && !Array.isArray(value) && field in value ? ((value as Record<string, Yaml>)[field] as Yaml) : value;
    }
    if (name === 'system_domain') return 'sys.example.com';
    if (field === 'ca' || field === 'certificate') return FAKE_CA;
    if (field === 'private_key') return FAKE_KEY;
    return `generated-${name}`;
  };
  const walk = (node: Yaml): Yaml => {
    if (typeof node === 'string') {
      const whole = /^\(\(([a-zA-Z0-9_/-]+)(?:\.([a-z_]+))?\)\)$/.exec(node);
      if (whole) return valueOf(whole[1] as string, whole[2]);
      return node.replace(/\(\(([a-zA-Z0-9_/-]+)(?:\.([a-z_]+))?\)\)/g, (_, name: string, field?: string) => String(valueOf(name, field)));
    }
    if (Array.isArray(node)) return node.map(walk);
    if (node && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([key, value]) => [key, walk(value)]));
    return node;
  };
  return walk(document);
}

let generatedTls: { certificate: string; private_key: string } | undefined;

/**
 * The generated ((droplet_registry_tls)): a real certificate and key (the template checks that
 * they belong together), as CredHub would make them.
 */
function registryTls(): { certificate: string; private_key: string } {
  if (!generatedTls) {
    const problem = throwawayCaProblem();
    if (problem) throw new Error(problem);
    const made = makeThrowawayCertificates(['DNS:registry.sys.example.com']);
    generatedTls = { certificate: made.cert, private_key: made.key };
  }
  return generatedTls;
}

/**
 * Cloud Controller's links (cloud_controller_https_endpoint, cloud_controller_internal) as
 * cf-deployment v58's cloud_controller_ng provides them, from the released cf-deployment.yml: the
 * fixture has too little of Cloud Controller to give them.
 */
function cloudControllerLinksOfCfDeployment(vars: Record<string, Yaml>) {
  const released = parseYaml(readFileSync(join(CF_DEPLOYMENT_DIR, 'cf-deployment.yml'), 'utf8'), { maxAliasCount: -1 }) as Yaml;
  return cloudControllerLinks(interpolate(released, vars) as unknown as ManifestWithApi);
}

/**
 * Renders the droplet-registry job of a manifest, links as the director would resolve them. The
 * example vars file's signing key is a placeholder (operators generate theirs): a real key stands in.
 */
async function renderFromManifest(manifest: Yaml, names: readonly string[], templates?: string[]) {
  const vars = Object.assign({}, ...names.map(exampleVars), { droplet_registry_token_signing_key: TOKEN_SIGNING_KEY, droplet_registry_tls: registryTls() }) as Record<string, Yaml>;
  const filled = interpolate(manifest, vars);
  const properties = find(filled, `${JOB_PATH}/properties`) as object;
  const instances = find(filled, '/instance_groups/name=droplet-registry/instances') as number;
  return renderJob({ properties, links: { ...defaultLinks(instances), ...cloudControllerLinksOfCfDeployment(vars) }, templates });
}

describe('ops-files', () => {
  it('are go-patch: lists of replace/remove operations with a path (and a value to replace with)', () => {
    assert.ok(OPS_FILES.length >= 5, OPS_FILES.join(', '));
    for (const name of OPS_FILES) {
      assert.match(readFileSync(join(MANIFESTS, name), 'utf8'), /^# /, `${name} starts with a comment saying what it does`);
      assert.match(name, /^(add|use|enable|disable|scale|set)-[a-z0-9-]+\.yml$/, `${name}: verb-first kebab-case`);
      readOpsFile(name);
    }
  });

  it('every ops-file is part of a tested deployment', () => {
    const covered = new Set(Object.values(DEPLOYMENTS).flat());
    assert.deepEqual(OPS_FILES.filter((name) => !covered.has(name)), []);
  });

  for (const [what, names] of Object.entries(DEPLOYMENTS)) {
    describe(`a deployment with ${what}`, () => {
      it('applies to cf-deployment, each path resolving, adding the droplet-registry job', () => {
        const jobs = ((find(apply(names), '/instance_groups') as Array<{ jobs?: Array<{ name: string }> }>) ?? []).flatMap((group) => group.jobs ?? []);
        assert.ok(jobs.some((job) => job.name === 'droplet-registry'), 'no instance group runs the droplet-registry job');
      });

      it('applies twice to the same manifest (re-running a deploy adds nothing)', () => {
        assert.deepEqual(apply(names, apply(names)), apply(names));
      });

      it('uses only variables that are generated, come from cf-deployment or have an example vars file', () => {
        const manifest = apply(names);
        const defined = new Set(((find(manifest, '/variables') as Array<{ name: string }>) ?? []).map((variable) => variable.name));
        const fromVarsFiles = new Set(names.flatMap((name) => Object.keys(exampleVars(name))));
        const undefinedVariables = [...variableReferences(manifest)].filter((name) => name !== 'system_domain' && !defined.has(name) && !fromVarsFiles.has(name));
        assert.deepEqual(undefinedVariables, []);
      });

      it('renders the job into a configuration the service loads', async (t) => {
        if (!requireRuby(t)) return;
        const files = await renderFromManifest(apply(names), names);
        const file = join(scratch, `${names.join('+')}.json`);
        writeFileSync(file, files['config/config.json'] as string);
        const config = loadConfig({ file, env: {} });
        assert.equal(config.source, 'capi');
        assert.equal(config.publicUrl, 'https://registry.sys.example.com');
        assert.equal(config.uaa.url, 'https://uaa.service.cf.internal:8443');
        assert.equal(config.capi.caCert, '/var/vcap/jobs/droplet-registry/config/certs/cc_ca.crt');
        assert.ok(config.database.url.startsWith('postgres://droplet_registry:'), config.database.url);
        assert.equal(files['config/certs/cc_ca.crt'], `${FAKE_CA}\n`);
        assert.deepEqual(config.tls, { cert: '/var/vcap/jobs/droplet-registry/config/certs/tls.crt', key: '/var/vcap/jobs/droplet-registry/config/certs/tls.key' });
        assert.equal(files['config/certs/tls.crt'], `${registryTls().certificate}\n`);
      });
    });
  }

  it('the external database goes over TLS with the given CA, values from the example vars file', async (t) => {
    if (!requireRuby(t)) return;
    const names = DEPLOYMENTS['an external database'] as string[];
    const files = await renderFromManifest(apply(names), names, ['config.json.erb', 'database_ca.crt.erb']);
    const url = new URL((JSON.parse(files['config/config.json'] as string) as { database: { url: string } }).database.url);
    assert.equal(url.host, 'registry-db.example.com:5432');
    assert.equal(url.searchParams.get('sslmode'), 'verify-full');
    assert.equal((JSON.parse(files['config/config.json'] as string) as { database: { caCert: string } }).database.caCert, '/var/vcap/jobs/droplet-registry/config/certs/database_ca.crt');
    assert.match(files['config/certs/database_ca.crt'] as string, /BEGIN CERTIFICATE/);
  });

  describe('add-droplet-registry.yml', () => {
    const manifest = apply(DEPLOYMENTS["cf-deployment's Postgres"] as string[]);
    const base = apply(['add-droplet-registry.yml']);

    it('runs two or more instances across availability zones', () => {
      assert.ok((find(base, '/instance_groups/name=droplet-registry/instances') as number) >= 2);
      assert.ok(new Set(find(base, '/instance_groups/name=droplet-registry/azs') as string[]).size >= 2);
      assert.deepEqual(find(base, '/releases/name=droplet-registry'), { name: 'droplet-registry', version: 'latest' });
    });

    it("registers registry.((system_domain)) on the registry's TLS port, gorouter verifying its certificate, health-checked by the job's bin/healthy", () => {
      const routes = find(base, '/instance_groups/name=droplet-registry/jobs/name=route_registrar/properties/route_registrar/routes') as Array<Record<string, Yaml>>;
      const route = routes.find((candidate) => candidate.name === 'droplet-registry');
      assert.ok(route);
      assert.deepEqual(route.uris, ['registry.((system_domain))']);
      assert.equal(route.tls_port, find(base, `${JOB_PATH}/properties/droplet_registry/port`));
      assert.equal(route.port, undefined, 'no plain HTTP route');
      const certificate = find(base, '/variables/name=droplet_registry_tls') as { type: string; options: { ca: string; alternative_names: string[]; extended_key_usage: string[] } };
      assert.equal(certificate.type, 'certificate');
      assert.ok(certificate.options.alternative_names.includes(route.server_cert_domain_san as string), "the name gorouter expects is in the registry's certificate");
      assert.deepEqual(certificate.options.extended_key_usage, ['server_auth']);
      // gorouter trusts service_cf_internal_ca (cf-deployment's router.ca_certs hold ((cc_tls.ca))).
      assert.equal(certificate.options.ca, (find(base, '/variables/name=cc_tls/options') as { ca: string }).ca);
      assert.equal(find(base, `${JOB_PATH}/properties/droplet_registry/tls/certificate`), '((droplet_registry_tls.certificate))');
      assert.equal(find(base, `${JOB_PATH}/properties/droplet_registry/tls/private_key`), '((droplet_registry_tls.private_key))');
      const health = route.health_check as Record<string, string>;
      assert.ok(Object.values(readJobSpec().templates).some((destination) => `/var/vcap/jobs/droplet-registry/${destination}` === health.script_path));
      assert.match(health.timeout as string, /^\d+s$/);
      assert.equal(find(base, '/instance_groups/name=droplet-registry/jobs/name=route_registrar/properties/nats/tls/enabled'), true);
    });

    it("creates the registry's UAA client: client_credentials with cloud_controller.admin_read_only, the secret the job uses", () => {
      const client = find(base, '/instance_groups/name=uaa/jobs/name=uaa/properties/uaa/clients/droplet_registry') as Record<string, Yaml>;
      assert.equal(client['authorized-grant-types'], 'client_credentials');
      assert.equal(client.authorities, 'cloud_controller.admin_read_only');
      assert.equal(client.secret, find(base, `${JOB_PATH}/properties/droplet_registry/uaa/client_secret`));
      assert.equal(find(base, `${JOB_PATH}/properties/droplet_registry/uaa/client_id`), 'droplet_registry');
      assert.deepEqual(find(base, '/variables/name=uaa_clients_droplet_registry_secret'), { name: 'uaa_clients_droplet_registry_secret', type: 'password' });
    });

    it('colocates the job that provides the rootfs the stacks name', () => {
      const stacks = find(base, `${JOB_PATH}/properties/droplet_registry/stacks`) as Array<{ rootfs: string }>;
      assert.ok(stacks.every((stack) => stack.rootfs.startsWith('/var/vcap/packages/cflinuxfs4/')));
      assert.equal(find(base, '/instance_groups/name=droplet-registry/jobs/name=cflinuxfs4-rootfs-setup/release'), 'cflinuxfs4');
    });

    it("use-cf-postgres-database.yml adds a database and role of the registry's own on cf-deployment's Postgres", () => {
      const postgres = '/instance_groups/name=database/jobs/name=postgres/properties/databases';
      assert.deepEqual(find(manifest, `${postgres}/databases/name=droplet_registry`), { name: 'droplet_registry', citext: false, tag: 'droplet_registry' });
      const role = find(manifest, `${postgres}/roles/name=droplet_registry`) as Record<string, Yaml>;
      const database = find(manifest, `${JOB_PATH}/properties/droplet_registry/database`) as Record<string, Yaml>;
      assert.equal(role.password, database.password);
      assert.equal(role.name, database.username);
      assert.equal(database.port, find(manifest, `${postgres}/port`));
      assert.ok(find(manifest, `${postgres}/databases/name=cloud_controller`), "cloud_controller's database stays");
    });

    it('alone, fails to render only for want of a database, naming the ops-files that give one', async (t) => {
      if (!requireRuby(t)) return;
      await assert.rejects(renderFromManifest(base, ['add-droplet-registry.yml'], ['config.json.erb']), (error: Error) => {
        assert.ok(error instanceof RenderError);
        assert.match(error.message, /Error filling in template 'config\.json\.erb'/);
        assert.match(error.message, /droplet_registry\.database\.host is required: .*use-cf-postgres-database\.yml.*use-external-database\.yml/);
        assert.doesNotMatch(error.message, /enable-unauthenticated-pulls|use-filesystem-blobstore|signing_key/);
        return true;
      });
    });

    it('without the signing key variable, fails naming it (and the opt-out)', async (t) => {
      if (!requireRuby(t)) return;
      const filled = interpolate(manifest, { droplet_registry_token_signing_key: '', droplet_registry_tls: registryTls() });
      const properties = find(filled, `${JOB_PATH}/properties`) as object;
      await assert.rejects(renderJob({ properties, links: defaultLinks(2), templates: ['config.json.erb'] }), /droplet_registry\.token\.signing_key is required .*droplet_registry_token_signing_key.*enable-unauthenticated-pulls\.yml/);
    });

    it('logs users in through UAA, with a login client of its own (password grant) and an operator-supplied signing key', async (t) => {
      const properties = find(base, `${JOB_PATH}/properties/droplet_registry`) as Record<string, Record<string, Yaml>>;
      assert.equal(properties.auth?.type, 'uaa');
      const client = find(base, '/instance_groups/name=uaa/jobs/name=uaa/properties/uaa/clients/droplet_registry_login') as Record<string, string>;
      assert.equal(properties.uaa?.login_client_id, 'droplet_registry_login');
      assert.equal(client.secret, properties.uaa?.login_client_secret);
      assert.equal(client['authorized-grant-types'], 'password');
      assert.deepEqual(
        (client.scope as string).split(',').sort(),
        ['cloud_controller.admin', 'cloud_controller.admin_read_only', 'cloud_controller.global_auditor', 'cloud_controller.read', 'openid'],
        "docs/cloud-foundry.md's scopes for a login client of the registry's own",
      );
      assert.deepEqual(find(base, '/variables/name=uaa_clients_droplet_registry_login_secret'), { name: 'uaa_clients_droplet_registry_login_secret', type: 'password' });
      // No BOSH/CredHub variable type makes an EC key: the operator supplies it, as the example vars file shows.
      assert.equal(properties.token?.signing_key, '((droplet_registry_token_signing_key))');
      assert.equal(find(base, '/variables/name=droplet_registry_token_signing_key?'), undefined);
      assert.ok('droplet_registry_token_signing_key' in exampleVars('add-droplet-registry.yml'));
      if (!requireRuby(t)) return;
      const files = await renderFromManifest(manifest, DEPLOYMENTS["cf-deployment's Postgres"] as string[]);
      const config = loadRendered(files['config/config.json'] as string);
      assert.equal(config.auth, 'uaa');
      assert.deepEqual(config.token.signingKeys, ['/var/vcap/jobs/droplet-registry/config/certs/token_signing_key.pem']);
      assert.equal(files['config/certs/token_signing_key.pem'], `${TOKEN_SIGNING_KEY}\n`);
      assert.equal(config.uaa.loginClientId, 'droplet_registry_login');
      assert.equal(config.uaa.loginClientSecret, 'generated-uaa_clients_droplet_registry_login_secret');
    });

    it("keeps blobs in cf-deployment's WebDAV blobstore, with the credentials Cloud Controller's link gives (none copied by hand)", async (t) => {
      assert.deepEqual(find(base, `${JOB_PATH}/properties/droplet_registry/blobstore/webdav`), { directory_key: 'droplet-registry' });
      // The released manifest, its variables as names: which of them the link hands the registry.
      const released = parseYaml(readFileSync(join(CF_DEPLOYMENT_DIR, 'cf-deployment.yml'), 'utf8'), { maxAliasCount: -1 }) as Yaml;
      const webdav = (cloudControllerLinks(released as unknown as ManifestWithApi).cloud_controller_internal.properties as { cc: { droplets: { connection_config: Record<string, string> } } }).cc.droplets.connection_config;
      const blobstore = find(released, '/instance_groups/name=singleton-blobstore/jobs/name=blobstore/properties/blobstore') as {
        admin_users: Array<{ username: string; password: string }>;
        secure_link: { secret: string };
        tls: { cert: string };
      };
      assert.ok(blobstore.admin_users.some((user) => user.username === webdav.username && user.password === webdav.password), 'one of the blobstore admin users');
      assert.equal(webdav.secret, blobstore.secure_link.secret);
      assert.equal(webdav.ca_cert, blobstore.tls.cert.replace(/\.certificate\)\)$/, '.ca))'), "the CA of the internal server's certificate");
      const tls = find(released, '/variables/name=blobstore_tls/options') as { alternative_names: string[] };
      assert.ok(tls.alternative_names.includes(new URL(webdav.private_endpoint as string).hostname), "the internal endpoint's host is in the blobstore's certificate");
      const routes = find(released, '/instance_groups/name=singleton-blobstore/jobs/name=route_registrar/properties/route_registrar/routes') as Array<{ uris: string[] }>;
      assert.ok(routes.some((route) => route.uris.includes(new URL(webdav.public_endpoint as string).hostname)), "the public endpoint is the blobstore's route");
      assert.equal(find(base, `${JOB_PATH}/properties/droplet_registry/blobstore/type`), 'webdav');
      if (!requireRuby(t)) return;
      const files = await renderFromManifest(manifest, DEPLOYMENTS["cf-deployment's Postgres"] as string[]);
      const config = loadRendered(files['config/config.json'] as string);
      assert.equal(config.blobstore.type, 'webdav');
      assert.deepEqual(config.blobstore.webdav, {
        privateEndpoint: 'https://blobstore.service.cf.internal:4443',
        publicEndpoint: 'https://blobstore.sys.example.com',
        username: 'blobstore-user',
        password: 'generated-blobstore_admin_users_password',
        secret: 'generated-blobstore_secure_link_secret',
        directoryKey: 'droplet-registry',
        caCert: '/var/vcap/jobs/droplet-registry/config/certs/webdav_blobstore_ca.crt',
        linkExpirySeconds: 1200,
      });
      assert.equal(files['config/certs/webdav_blobstore_ca.crt'], `${FAKE_CA}\n`);
      assert.equal(find(manifest, '/instance_groups/name=droplet-registry/instances'), 2);
    });
  });

  it('use-s3-blobstore.yml keeps two instances on the bucket of its variables', async (t) => {
    const names = DEPLOYMENTS['an S3 blobstore'] as string[];
    const manifest = apply(names);
    assert.equal(find(manifest, '/instance_groups/name=droplet-registry/instances'), 2);
    assert.equal(find(manifest, `${JOB_PATH}/properties/droplet_registry/blobstore/webdav?`), undefined, 'the WebDAV settings are gone');
    if (!requireRuby(t)) return;
    const config = loadRendered((await renderFromManifest(manifest, names, ['config.json.erb']))['config/config.json'] as string);
    assert.equal(config.blobstore.type, 's3');
    assert.deepEqual(
      [config.blobstore.s3.bucket, config.blobstore.s3.region, config.blobstore.s3.endpoint, config.blobstore.s3.accessKeyId, config.blobstore.s3.secretAccessKey],
      ['my-foundation-droplet-registry', 'eu-central-1', '', 'AKIAIOSFODNN7EXAMPLE', 'change-me'],
    );
    assert.equal(config.auth, 'uaa');
  });

  it('use-filesystem-blobstore.yml runs one instance on its own disk; enable-unauthenticated-pulls.yml drops login', async (t) => {
    const names = DEPLOYMENTS['one instance with its own disk, pulls without login'] as string[];
    const manifest = apply(names);
    assert.equal(find(manifest, '/instance_groups/name=droplet-registry/instances'), 1);
    assert.equal(find(manifest, '/instance_groups/name=droplet-registry/persistent_disk_type'), '100GB');
    assert.ok(!variableReferences(manifest).has('droplet_registry_token_signing_key'), 'no signing key to supply');
    assert.equal(find(manifest, '/instance_groups/name=uaa/jobs/name=uaa/properties/uaa/clients/droplet_registry_login?'), undefined);
    if (!requireRuby(t)) return;
    const config = loadRendered((await renderFromManifest(manifest, names, ['config.json.erb']))['config/config.json'] as string);
    assert.equal(config.blobstore.type, 'fs');
    assert.equal(config.auth, 'none');
    assert.equal(config.authNoneForce, true);
    assert.deepEqual(config.token.signingKeys, []);
  });

  it('use-cf-postgres-database.yml needs cf-deployment with use-postgres.yml', () => {
    const mysql = applyOperations(FIXTURE, [{ type: 'remove', path: '/instance_groups/name=database/jobs/name=postgres' }]);
    assert.throws(() => apply(['add-droplet-registry.yml', 'use-cf-postgres-database.yml'], mysql), /expected to find an array item with name=postgres/);
    apply(['add-droplet-registry.yml', 'use-external-database.yml'], mysql);
  });
});

describe('example vars files', () => {
  it('belong to an ops-file and give exactly the variables it introduces that nothing generates', () => {
    for (const file of readdirSync(VARS_FILES)) {
      const opsFile = /^vars-(.+\.yml)$/.exec(file)?.[1];
      assert.ok(opsFile && OPS_FILES.includes(opsFile), `${file} names no ops-file`);
      const fromCfDeployment = new Set([...variableReferences(FIXTURE), ...((find(FIXTURE, '/variables') as Array<{ name: string }>) ?? []).map((variable) => variable.name)]);
      const introduced = [...variableReferences(readOpsFile(opsFile) as unknown as Yaml)].filter(
        (name) => !fromCfDeployment.has(name) && name !== 'system_domain' && !readOpsFile(opsFile).some((op) => op.path === `/variables/name=${name}?`),
      );
      assert.deepEqual(Object.keys(exampleVars(opsFile)).sort(), introduced.sort());
    }
  });
});

describe('manifests/README.md', () => {
  const readme = readFileSync(join(MANIFESTS, 'README.md'), 'utf8');
  const rows = new Map(
    readme
      .split('\n')
      .filter((line) => /^\| \[`[^`]+\.yml`\]/.test(line))
      .map((line) => [/`([^`]+\.yml)`/.exec(line)?.[1] as string, line]),
  );

  it('has a Name | Purpose | Variables table row for every ops-file', () => {
    assert.match(readme, /^\| Name \| Purpose \| Variables \|$/m);
    assert.deepEqual([...rows.keys()].sort(), [...OPS_FILES].sort());
  });

  it('names, in each row, the variables that ops-file introduces', () => {
    const fixtureVariables = new Set([...variableReferences(FIXTURE), ...((find(FIXTURE, '/variables') as Array<{ name: string }>) ?? []).map((variable) => variable.name)]);
    for (const name of OPS_FILES) {
      const row = rows.get(name) as string;
      for (const variable of variableReferences(readOpsFile(name) as unknown as Yaml)) {
        if (fixtureVariables.has(variable) || variable === 'system_domain') continue;
        const shortForm = variable.replace(/^droplet_registry_external_database_/, '_');
        assert.ok(row.includes(`\`${variable}\``) || row.includes(`\`${shortForm}\``), `${name}'s row does not name ${variable}`);
      }
    }
  });
});
