/**
 * The droplet-registry job's templates, rendered as the director renders them (bosh-template's engine, support/render-job.ts).
 * The rendered config.json goes through the service's own loader, so a BOSH property and the
 * configuration key it feeds cannot drift apart unnoticed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { ConfigError, configEnvironmentVariables, loadConfig, type Config } from '../../src/config/load-config.ts';
import { configSchema } from '../../src/config/schema.ts';
import { skipOrFail } from '../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem } from '../support/throwaway-ca.ts';
import { certificatePem } from './support/certificates.ts';
import {
  boshTemplateProblem,
  defaultLinks,
  JOB_DIR,
  merge,
  minimalProperties,
  privateKeyPem,
  readJobSpec,
  relocate as relocateTo,
  RenderError,
  renderJob,
  renderTemplate,
  requireRuby,
  TOKEN_SIGNING_KEY,
} from './support/render-job.ts';

const run = promisify(execFile);
const scratch = mkdtempSync(join(tmpdir(), 'dr-bosh-templates-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** PEM markers around what is no certificate: the job parses what it renders, and refuses this. */
const FAKE_CERTIFICATE = '-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n-----END CERTIFICATE-----\n';
/** A real CA certificate (made with Ruby's OpenSSL; where Ruby is missing the rendering tests skip). */
const CA = boshTemplateProblem() ? FAKE_CERTIFICATE : certificatePem();
/** One that expired yesterday. */
const EXPIRED_CA = boshTemplateProblem() ? FAKE_CERTIFICATE : certificatePem({ commonName: 'expired test CA', notBefore: -7 * 86_400, notAfter: -86_400 });
const GIB = 2 ** 30;
const CERTS = '/var/vcap/jobs/droplet-registry/config/certs';
const PREVIOUS_KEY = privateKeyPem();
const CERT_FILES = ['cc_ca', 'uaa_ca', 'droplet_blobstore_ca', 'database_ca', 'webdav_blobstore_ca'];
/** A real server certificate and key (openssl), for the HTTPS listener; null when openssl is missing. */
const caProblem = throwawayCaProblem();
const SERVER_TLS = caProblem ? null : makeThrowawayCertificates(['DNS:registry.sys.example.com']);

/** Loads rendered config.json text with the service's real loader and an empty environment. */
function loadRendered(json: string): Config {
  const file = join(scratch, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, json);
  return loadConfig({ file, env: {} });
}

function withProperties(extra: object): Record<string, unknown> {
  return merge(minimalProperties(), { droplet_registry: extra });
}

describe('the job spec', () => {
  const spec = readJobSpec();
  const templates = Object.keys(spec.templates);
  const sources = Object.fromEntries(templates.map((name) => [name, readFileSync(join(JOB_DIR, 'templates', name), 'utf8')]));

  it('lists every file of templates/ and nothing else', () => {
    assert.deepEqual([...templates].sort(), readdirSync(join(JOB_DIR, 'templates')).sort());
  });

  it('describes every property', () => {
    for (const [name, definition] of Object.entries(spec.properties)) {
      assert.ok(typeof definition?.description === 'string' && definition.description.length > 20, `${name} has no description`);
      assert.match(name, /^droplet_registry\.[a-z0-9_.]+$/, `${name} is not under droplet_registry.*, snake_case`);
    }
  });

  it('declares every property the templates read, and every declared property is read', () => {
    const used = new Set<string>();
    for (const source of Object.values(sources)) {
      // p('x') and if_p('x') (but not link(...).p('x'), which reads the link's properties), and
      // config.json.erb's readers (integer_in.call('x'), number.call('x'), ...), which call p themselves.
      for (const match of source.matchAll(/(?<![.\w])(?:p|if_p|\w+\.call)\(\s*'(droplet_registry\.[^']+)'/g)) {
        used.add(match[1] as string);
      }
    }
    const declared = new Set(Object.keys(spec.properties));
    assert.deepEqual([...used].filter((name) => !declared.has(name)), [], 'read but not declared');
    assert.deepEqual([...declared].filter((name) => !used.has(name)), [], 'declared but never read');
  });

  it('is documented: every property feeds the key docs/bosh.md\'s naming rule gives it, or is listed there', () => {
    // The job spec describes the properties and docs/configuration.md the keys; docs/bosh.md only
    // says how one maps to the other: by a rule, with a table of exceptions and the properties of BOSH alone.
    const doc = readFileSync(join(JOB_DIR, '..', '..', 'docs', 'bosh.md'), 'utf8').split('### Properties')[1]?.split('\n## ')[0] ?? '';
    assert.match(doc, /job spec \(`jobs\/droplet-registry\/spec`\)/);
    assert.match(doc, /\[configuration\.md\]\(configuration\.md\)/);
    const firstCells = [...doc.matchAll(/^\| ([^|]+) \|/gm)].map((match) => match[1] as string);
    const boshAlone = /Properties of BOSH alone:([\s\S]*?)\n\n/.exec(doc)?.[1] ?? '';
    assert.ok(boshAlone, 'docs/bosh.md lists the properties of BOSH alone');
    const listed = [...[...firstCells, boshAlone].join(' ').matchAll(/`([a-z0-9_.*]+)`/g)].map((match) => `droplet_registry.${match[1]}`);
    assert.deepEqual(
      listed.filter((name) => !(name in spec.properties) && !(name.endsWith('.*') && Object.keys(spec.properties).some((property) => property.startsWith(name.slice(0, -1))))),
      [],
      'docs/bosh.md names properties the job does not have',
    );
    const isListed = (property: string) => listed.some((name) => name === property || (name.endsWith('.*') && property.startsWith(name.slice(0, -1))));
    const camel = (segment: string) => segment.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
    const keyByRule = (property: string): string[] => {
      const segments = property.replace(/^droplet_registry\./, '').replace(/^cc\./, 'capi.').split('.');
      const last = segments.pop() as string;
      return [...segments.map(camel), last.endsWith('_in_seconds') ? `${camel(last.slice(0, -'_in_seconds'.length))}Ms` : camel(last)];
    };
    const inSchema = (path: string[]) => {
      let node: unknown = configSchema;
      for (const part of path) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
      return Boolean(node && typeof node === 'object' && 'default' in node);
    };
    assert.deepEqual(
      Object.keys(spec.properties).filter((property) => !isListed(property) && !inSchema(keyByRule(property))),
      [],
      'properties whose key the rule in docs/bosh.md does not give: list them in its table',
    );
  });

  it('runs on its two packages and consumes cloud_controller', () => {
    assert.deepEqual(spec.packages, ['node', 'droplet-registry']);
    assert.ok(spec.consumes?.some((link) => link.name === 'cloud_controller' && link.type === 'cloud_controller' && !link.optional));
    for (const property of spec.provides?.flatMap((link) => link.properties ?? []) ?? []) {
      assert.ok(property in spec.properties, `provided property ${property} is not declared`);
    }
  });
});

describe('rendering', () => {

  it('renders every template with the minimal properties, and the service loads config.json', async (t) => {
    if (!requireRuby(t)) return;
    const files = await renderJob();
    assert.deepEqual(Object.keys(files).sort(), Object.values(readJobSpec().templates).sort());
    const config = loadRendered(files['config/config.json'] as string);
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.publicUrl, 'https://registry.sys.example.com');
    assert.equal(config.dataDir, '/var/vcap/data/droplet-registry');
    assert.equal(config.source, 'capi');
    assert.equal(config.capi.url, 'https://cloud-controller-ng.service.cf.internal:9024');
    assert.equal(config.database.url, 'postgres://droplet_registry:database-password@sql-db.service.cf.internal:5524/droplet_registry');
    assert.equal(config.database.schema, 'public', "where postgres-release's grants let the role create tables");
    assert.equal(config.blobstore.fsRoot, '/var/vcap/store/droplet-registry/blobstore');
    // cflinuxfs4-release's package: its tarball as the stack layer, the rootfs.tar its set-up job customizes for the foundation layer.
    assert.deepEqual(config.stacks, { cflinuxfs4: '/var/vcap/packages/cflinuxfs4/cflinuxfs4.tar.gz' });
    assert.deepEqual(config.stackFoundations, { cflinuxfs4: '/var/vcap/packages/cflinuxfs4/rootfs.tar' });
    assert.equal(config.auth, 'uaa', 'user authentication is the default with the capi source');
    assert.equal(config.trustedProxyHops, 1, 'clients are told apart by the address the gorouter saw');
    assert.equal(config.authNoneForce, false);
    assert.deepEqual(config.token.signingKeys, [`${CERTS}/token_signing_key.pem`]);
    assert.equal(files['config/certs/token_signing_key.pem'], `${TOKEN_SIGNING_KEY}\n`);
    assert.equal(files['config/certs/token_signing_key_previous.pem']?.trim(), '');
    assert.equal(config.uaa.clientSecret, 'client-secret');
    assert.equal(config.uaa.loginClientId, 'cf');
    assert.equal(config.blobstore.type, 'fs');
    for (const cert of CERT_FILES) assert.equal(files[`config/certs/${cert}.crt`]?.trim(), '');
  });

  it('renders every key of the configuration schema (none left to the service\'s defaults)', async (t) => {
    if (!requireRuby(t)) return;
    const rendered = JSON.parse((await renderJob({ templates: ['config.json.erb'] }))['config/config.json'] as string) as Record<string, unknown>;
    const missing: string[] = [];
    const walk = (schema: Record<string, unknown>, value: Record<string, unknown> | undefined, prefix: string): void => {
      for (const [key, entry] of Object.entries(schema)) {
        if (entry && typeof entry === 'object' && 'default' in entry) {
          if (value === undefined || !(key in value)) missing.push(`${prefix}${key}`);
        } else {
          walk(entry as Record<string, unknown>, value?.[key] as Record<string, unknown> | undefined, `${prefix}${key}.`);
        }
      }
    };
    walk(configSchema as unknown as Record<string, unknown>, rendered, '');
    assert.deepEqual(
      missing.filter((key) => !NOT_YET_EXPOSED.has(key)),
      [],
      'configuration keys the job does not render: add a property for each (or, while the key is still being built, list it in NOT_YET_EXPOSED)',
    );
  });

  it('maps every property to its configuration key', async (t) => {
    if (!requireRuby(t)) return;
    const files = await renderJob({
      properties: {
        droplet_registry: {
          port: 9443,
          bind_address: '10.0.0.4',
          headers_timeout_in_seconds: 10,
          request_timeout_in_seconds: 20,
          metrics: { port: 9100, bind_address: '10.0.0.5' },
          gc: { interval_in_seconds: 0, image_retention_days: 7, blob_grace_in_seconds: 600 },
          public_url: 'https://images.example.com',
          log_level: 'debug',
          source: 'capi',
          cc: {
            url: 'https://api.sys.example.com',
            ca_cert: CA,
            timeout_in_seconds: 7,
            page_size: 100,
            max_pages: 3,
            droplet_blobstore_ca_cert: CA,
            droplet_download_idle_timeout_in_seconds: 30,
            cache_ttl_in_seconds: 20,
            change_check_interval_in_seconds: 2,
          },
          uaa: {
            url: 'https://uaa.service.cf.internal:8443',
            ca_cert: CA,
            client_id: 'registry',
            client_secret: 'p@ss word',
            login_client_id: 'droplet_registry_login',
            login_client_secret: 'login secret',
            password_login_ttl_in_seconds: 0,
          },
          upstream_stale_if_error_in_seconds: 90,
          auth: { type: 'uaa', decision_ttl_in_seconds: 0, admin_scope: 'registry.admin', login_failures: { limit: 0, window_in_seconds: 300 }, allow_global_auditors: false },
          token: { signing_key: TOKEN_SIGNING_KEY, previous_signing_key: PREVIOUS_KEY, ttl_in_seconds: 60, service: 'images.example.com' },
          prewarm: { enabled: false, interval_in_seconds: 30, concurrency: 4, initial_apps: 0 },
          stacks: [
            { name: 'cflinuxfs4', rootfs: '/var/vcap/data/rootfs/cflinuxfs4.tar.gz', foundation_rootfs: '/var/vcap/data/custom/rootfs.tar' },
            { name: 'cflinuxfs5', rootfs: '/var/vcap/packages/cflinuxfs5/rootfs.tar' },
          ],
          default_stack: 'cflinuxfs5',
          lifecycle_tarball: '/var/vcap/packages/lifecycle/buildpack_app_lifecycle.tgz',
          conversion: { compression_level: 6, droplet_layers: 'single', max_uncompressed_bytes: 1_000_000, max_entries: 1000, concurrency: 4, queue: 0, per_app: 3, lease_in_seconds: 60, manifest_wait_in_seconds: 20 },
          blobstore: { type: 'fs', fs: { root: '/var/vcap/data/droplet-registry/blobs', shared: false }, write_probe_interval_in_seconds: 5, check_before_redirect: true },
          database: {
            host: 'db.example.com',
            port: 6432,
            name: 'registry db',
            username: 'reg/user',
            password: 'p@ss:w/rd?#',
            schema: 'registry',
            pool_max: 3,
            tls: { enabled: true, ca_cert: CA },
          },
        },
      },
    });
    const config = loadRendered(files['config/config.json'] as string);
    const certs = '/var/vcap/jobs/droplet-registry/config/certs';
    const expected = {
      port: 9443,
      host: '10.0.0.4',
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 20_000,
      metrics: { port: 9100, host: '10.0.0.5' },
      gc: { intervalMs: 0, imageRetentionDays: 7, blobGraceMs: 600_000 },
      authAllowGlobalAuditors: false,
      publicUrl: 'https://images.example.com',
      dataDir: '/var/vcap/data/droplet-registry',
      logLevel: 'debug',
      database: {
        url: `postgres://reg%2Fuser:p%40ss%3Aw%2Frd%3F%23@db.example.com:6432/registry%20db?sslmode=verify-full`,
        schema: 'registry',
        poolMax: 3,
        caCert: `${certs}/database_ca.crt`,
        migrate: false,
      },
      blobstore: { type: 'fs', fsRoot: '/var/vcap/data/droplet-registry/blobs', writeProbeIntervalMs: 5000, checkBeforeRedirect: true },
      source: 'capi',
      capi: {
        url: 'https://api.sys.example.com',
        caCert: `${certs}/cc_ca.crt`,
        timeoutMs: 7000,
        pageSize: 100,
        maxPages: 3,
        blobstoreCaCert: `${certs}/droplet_blobstore_ca.crt`,
        downloadIdleTimeoutMs: 30_000,
        cacheTtlMs: 20_000,
        changeCheckIntervalMs: 2_000,
      },
      uaa: {
        url: 'https://uaa.service.cf.internal:8443',
        caCert: `${certs}/uaa_ca.crt`,
        clientId: 'registry',
        clientSecret: 'p@ss word',
        loginClientId: 'droplet_registry_login',
        loginClientSecret: 'login secret',
        passwordLoginTtlMs: 0,
      },
      upstreamStaleIfErrorMs: 90_000,
      prewarm: { enabled: false, intervalMs: 30_000, concurrency: 4, initialApps: 0 },
      auth: 'uaa',
      authNoneForce: false,
      token: { signingKeys: [`${certs}/token_signing_key.pem`, `${certs}/token_signing_key_previous.pem`], ttlSeconds: 60, service: 'images.example.com' },
      authDecisionTtlMs: 0,
      adminScope: 'registry.admin',
      loginFailures: { limit: 0, windowMs: 300_000 },
      dropletsDir: '/var/vcap/data/droplet-registry/droplets',
      stacks: { cflinuxfs4: '/var/vcap/data/rootfs/cflinuxfs4.tar.gz', cflinuxfs5: '/var/vcap/packages/cflinuxfs5/rootfs.tar' },
      stackFoundations: { cflinuxfs4: '/var/vcap/data/custom/rootfs.tar' },
      defaultStack: 'cflinuxfs5',
      lifecycleTarball: '/var/vcap/packages/lifecycle/buildpack_app_lifecycle.tgz',
      conversion: { compressionLevel: 6, dropletLayers: 'single', maxUncompressedBytes: 1_000_000, maxEntries: 1000, concurrency: 4, queue: 0, perApp: 3, leaseMs: 60_000, manifestWaitMs: 20_000 },
    };
    // Keys the schema has gained beyond those the job renders keep their defaults; compare ours.
    assert.deepEqual(pickLike(config, expected), expected);
    assert.deepEqual(config.stacks, expected.stacks);
    // The database URL's parts survive URL encoding as pg reads them.
    const url = new URL(config.database.url);
    assert.equal(decodeURIComponent(url.username), 'reg/user');
    assert.equal(decodeURIComponent(url.password), 'p@ss:w/rd?#');
    assert.equal(decodeURI(url.pathname.slice(1)), 'registry db');
    for (const cert of ['cc_ca', 'uaa_ca', 'droplet_blobstore_ca', 'database_ca']) assert.equal(files[`config/certs/${cert}.crt`], `${CA}\n`);
    assert.equal(files['config/certs/token_signing_key.pem'], `${TOKEN_SIGNING_KEY}\n`);
    assert.equal(files['config/certs/token_signing_key_previous.pem'], `${PREVIOUS_KEY}\n`);
  });

  it('maps the webdav blobstore\'s properties, the public endpoint defaulting to blobstore.<system_domain>', async (t) => {
    if (!requireRuby(t)) return;
    const webdav = { password: 'admin p@ss', secret: 'link secret' };
    const defaults = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ blobstore: { type: 'webdav', webdav } }), links: defaultLinks(2) }));
    assert.deepEqual(defaults.blobstore.webdav, {
      privateEndpoint: 'https://blobstore.service.cf.internal:4443',
      publicEndpoint: 'https://blobstore.sys.example.com',
      username: 'blobstore-user',
      password: 'admin p@ss',
      secret: 'link secret',
      directoryKey: 'droplet-registry',
      caCert: '',
      linkExpirySeconds: 1200,
    });
    const files = await renderJob({
      properties: withProperties({
        blobstore: {
          type: 'webdav',
          webdav: {
            ...webdav,
            private_endpoint: 'https://10.0.0.9:4443',
            public_endpoint: 'https://blobs.example.com',
            username: 'registry-user',
            directory_key: 'registry-blobs',
            ca_cert: CA,
            link_expiry_in_seconds: 600,
          },
        },
      }),
      templates: ['config.json.erb', 'webdav_blobstore_ca.crt.erb', 'bpm.yml.erb', 'pre-start.erb'],
    });
    const config = loadRendered(files['config/config.json'] as string);
    assert.equal(config.blobstore.type, 'webdav');
    assert.deepEqual(config.blobstore.webdav, {
      privateEndpoint: 'https://10.0.0.9:4443',
      publicEndpoint: 'https://blobs.example.com',
      username: 'registry-user',
      password: 'admin p@ss',
      secret: 'link secret',
      directoryKey: 'registry-blobs',
      caCert: `${CERTS}/webdav_blobstore_ca.crt`,
      linkExpirySeconds: 600,
    });
    assert.equal(files['config/certs/webdav_blobstore_ca.crt'], `${CA}\n`);
    // Nothing on disk: no persistent disk needed, no blobstore directory made.
    const [process] = (parseYaml(files['config/bpm.yml'] as string) as { processes: Array<Record<string, unknown>> }).processes as [Record<string, unknown>];
    assert.equal(process.persistent_disk, false);
    assert.match(files['bin/pre-start'] as string, /^readonly FS_ROOT=''$/m);
  });

  it('maps the s3 blobstore\'s properties', async (t) => {
    if (!requireRuby(t)) return;
    const s3 = {
      bucket: 'registry-blobs',
      region: 'eu-central-1',
      endpoint: 'https://minio.example.com:9000',
      force_path_style: true,
      access_key_id: 'AKIAEXAMPLE',
      secret_access_key: 's3 secret',
      public_endpoint: 'https://blobs.example.com',
      presign_expiry_in_seconds: 300,
      prefix: 'registry/',
    };
    const config = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ blobstore: { type: 's3', s3 } }), links: defaultLinks(3) }));
    assert.equal(config.blobstore.type, 's3');
    assert.deepEqual(config.blobstore.s3, {
      bucket: 'registry-blobs',
      region: 'eu-central-1',
      endpoint: 'https://minio.example.com:9000',
      forcePathStyle: true,
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 's3 secret',
      publicEndpoint: 'https://blobs.example.com',
      presignExpirySeconds: 300,
      prefix: 'registry/',
    });
    // Neither key: the AWS SDK's default chain (instance profile); AWS's own endpoint.
    const profile = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ blobstore: { type: 's3', s3: { bucket: 'b' } } }) }));
    assert.deepEqual([profile.blobstore.s3.accessKeyId, profile.blobstore.s3.secretAccessKey, profile.blobstore.s3.endpoint, profile.blobstore.s3.region], ['', '', '', 'us-east-1']);
  });

  it('renders auth none when forced, and lists a signing key given anyway', async (t) => {
    if (!requireRuby(t)) return;
    const config = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ auth: { type: 'none', none_force: true } }) }));
    assert.equal(config.auth, 'none');
    assert.equal(config.authNoneForce, true);
    const keyless = merge(minimalProperties(), { droplet_registry: { auth: { type: 'none', none_force: true } } }) as { droplet_registry: Record<string, unknown> };
    delete keyless.droplet_registry.token;
    assert.deepEqual(loadRendered(await renderTemplate('config.json.erb', { properties: keyless })).token.signingKeys, []);
  });

  it('accepts a PKCS#8 signing key (openssl genpkey) as well as SEC1 (openssl ecparam)', async (t) => {
    if (!requireRuby(t)) return;
    const { generateKeyPairSync } = await import('node:crypto');
    const pkcs8 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const config = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ token: { signing_key: pkcs8 } }) }));
    assert.equal(config.token.signingKeys.length, 1);
  });

  it('renders nothing the configuration schema does not know (strict loading)', async (t) => {
    if (!requireRuby(t)) return;
    const rendered = JSON.parse((await renderJob({ templates: ['config.json.erb'] }))['config/config.json'] as string) as Record<string, unknown>;
    assert.deepEqual(Object.keys(rendered).filter((key) => !RENDERED_KEYS.has(key)), []);
  });

  it('renders the directory source without a UAA secret or none_force', async (t) => {
    if (!requireRuby(t)) return;
    const config = loadRendered(
      await renderTemplate('config.json.erb', {
        properties: {
          droplet_registry: {
            source: 'directory',
            directory: { droplets_dir: '/var/vcap/store/droplets' },
            database: { host: '10.0.0.9', password: 'x' },
          },
        },
      }),
    );
    assert.equal(config.source, 'directory');
    assert.equal(config.dropletsDir, '/var/vcap/store/droplets');
    assert.equal(config.auth, 'none', 'auth auto is none with the directory source');
  });

  it('renders plain HTTP and a 90 s shutdown by default', async (t) => {
    if (!requireRuby(t)) return;
    const files = await renderJob({ templates: ['config.json.erb', 'tls.crt.erb', 'tls.key.erb'] });
    const config = loadRendered(files['config/config.json'] as string);
    assert.deepEqual(config.tls, { cert: '', key: '' });
    assert.equal(config.shutdownTimeoutMs, 90_000);
    assert.equal(files['config/certs/tls.crt']?.trim(), '');
    assert.equal(files['config/certs/tls.key']?.trim(), '');
    const shorter = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ shutdown_timeout_in_seconds: 20, drain: { timeout_in_seconds: 30 } }) }));
    assert.equal(shorter.shutdownTimeoutMs, 20_000);
  });

  it('renders the HTTPS listener: certificate and key into config/certs, their paths in tls', async (t) => {
    if (!requireRuby(t)) return;
    if (!SERVER_TLS) return void skipOrFail(t, caProblem as string);
    const files = await renderJob({ properties: withProperties({ tls: { certificate: SERVER_TLS.cert, private_key: SERVER_TLS.key } }) });
    const config = loadRendered(files['config/config.json'] as string);
    assert.deepEqual(config.tls, { cert: `${CERTS}/tls.crt`, key: `${CERTS}/tls.key` });
    assert.equal(files['config/certs/tls.crt'], `${SERVER_TLS.cert}\n`);
    assert.equal(files['config/certs/tls.key'], `${SERVER_TLS.key}\n`);
  });

  it('refuses a TLS key that is not the certificate\'s, or is no key, without showing it', async (t) => {
    if (!requireRuby(t)) return;
    if (!SERVER_TLS) return void skipOrFail(t, caProblem as string);
    const secret = 'TOP-SECRET-TLS-KEY';
    for (const [privateKey, message] of [
      [PREVIOUS_KEY, /droplet_registry\.tls\.private_key is not the private key of droplet_registry\.tls\.certificate \(\/CN=[^)]+\) \(the value is not shown\)/],
      [secret, /droplet_registry\.tls\.private_key must be an unencrypted PEM private key \(the value is not shown\)/],
    ] as const) {
      await assert.rejects(renderJob({ properties: withProperties({ tls: { certificate: SERVER_TLS.cert, private_key: privateKey } }), templates: ['config.json.erb'] }), (error: Error) => {
        assert.match(error.message, message);
        assert.ok(!error.message.includes(secret) && !error.message.includes('PRIVATE KEY'));
        return true;
      });
    }
  });

  it('renders an IPv6 database host in brackets', async (t) => {
    if (!requireRuby(t)) return;
    const config = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ database: { host: 'fd00::5' } }) }));
    assert.equal(new URL(config.database.url).hostname, '[fd00::5]');
    const bracketed = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ database: { host: '[fd00::5]' } }) }));
    assert.equal(bracketed.database.url, config.database.url);
  });

  it('renders fractional seconds as whole milliseconds', async (t) => {
    if (!requireRuby(t)) return;
    // 30.0 was rendered as 30 (ms): only Integers were multiplied.
    const config = loadRendered(
      await renderTemplate('config.json.erb', { properties: withProperties({ headers_timeout_in_seconds: 30.0, cc: { timeout_in_seconds: 7.5, cache_ttl_in_seconds: 0.0015 } }) }),
    );
    assert.deepEqual([config.headersTimeoutMs, config.capi.timeoutMs, config.capi.cacheTtlMs], [30_000, 7_500, 2]);
  });

  it('renders the storage budget in bytes: 20 GB by default, GB as BOSH disk types count them, 0 for none', async (t) => {
    if (!requireRuby(t)) return;
    const budget = async (storage?: object) => loadRendered(await renderTemplate('config.json.erb', { properties: withProperties(storage ? { storage } : {}) })).storage.budgetBytes;
    assert.equal(await budget(), 20 * GIB, "a fifth of cf-deployment's 100GB blobstore disk");
    assert.equal(await budget({ budget_in_gb: 0 }), 0);
    assert.equal(await budget({ budget_in_gb: 80 }), 80 * GIB);
    assert.equal(await budget({ budget_in_gb: 0.5 }), GIB / 2);
    assert.equal(await budget({ budget_in_gb: '30' }), 30 * GIB, 'a quoted number');
  });

  it('accepts admin scopes UAA names, and CA bundles that still hold a current certificate', async (t) => {
    if (!requireRuby(t)) return;
    for (const scope of ['cloud_controller.admin', 'zones.5f1e-a2c3.admin', 'registry:admin', 'admin']) {
      const config = loadRendered(await renderTemplate('config.json.erb', { properties: withProperties({ auth: { admin_scope: scope } }) }));
      assert.equal(config.adminScope, scope);
    }
    // A provider's bundle (e.g. RDS's) may keep expired CAs beside the current one.
    const files = await renderJob({ properties: withProperties({ uaa: { ca_cert: `${EXPIRED_CA}${CA}` } }), templates: ['config.json.erb', 'uaa_ca.crt.erb'] });
    assert.equal(loadRendered(files['config/config.json'] as string).uaa.caCert, `${CERTS}/uaa_ca.crt`);
    assert.equal(files['config/certs/uaa_ca.crt'], `${EXPIRED_CA}${CA}\n`);
  });
});

describe('bad property values only BOSH knows fail rendering with a message naming the property', () => {
  const cases: Array<[string, object, RegExp, { links?: ReturnType<typeof defaultLinks> }?]> = [
    // The port leaves the job (link, route_registrar, bin/healthy): 0 is "any port" to the registry.
    ['port 0', { port: 0 }, /droplet_registry\.port must be an integer from 1 to 65535 \(got 0\)/],
    ['port 70000', { port: 70_000 }, /droplet_registry\.port must be an integer from 1 to 65535 \(got 70000\)/],
    ['a port that is not a number', { port: 'http' }, /droplet_registry\.port must be an integer from 1 to 65535 \(got "http"\)/],
    ['auth none with the capi source, not forced', { auth: { type: 'none' } }, /droplet_registry\.auth\.none_force to true .*enable-unauthenticated-pulls\.yml/],
    ['auth uaa without a signing key', { token: { signing_key: '' } }, /droplet_registry\.token\.signing_key is required with droplet_registry\.auth\.type uaa: .*openssl ecparam -name prime256v1 -genkey.*droplet_registry_token_signing_key.*enable-unauthenticated-pulls\.yml/],
    ['none_force as a string', { auth: { type: 'none', none_force: 'yes' } }, /droplet_registry\.auth\.none_force must be true or false/],
    ['a signing key that is not PEM', { token: { signing_key: 'not a key' } }, /droplet_registry\.token\.signing_key must be a PEM EC P-256 \(prime256v1\) private key.*\(the value is not shown\)/],
    ['a P-384 signing key', { token: { signing_key: privateKeyPem('P-384') } }, /droplet_registry\.token\.signing_key must be a PEM EC P-256/],
    ['an RSA signing key', { token: { signing_key: privateKeyPem('rsa') } }, /droplet_registry\.token\.signing_key must be a PEM EC P-256/],
    ['a certificate as the signing key', { token: { signing_key: CA } }, /droplet_registry\.token\.signing_key must be a PEM EC P-256/],
    ['a previous key that is not a key', { token: { previous_signing_key: 'x' } }, /droplet_registry\.token\.previous_signing_key must be a PEM EC P-256/],
    ['a previous key without a signing key', { auth: { type: 'none', none_force: true }, token: { signing_key: '', previous_signing_key: PREVIOUS_KEY } }, /droplet_registry\.token\.previous_signing_key needs droplet_registry\.token\.signing_key/],
    ['the same key twice', { token: { previous_signing_key: TOKEN_SIGNING_KEY } }, /droplet_registry\.token\.previous_signing_key is the same key as droplet_registry\.token\.signing_key/],
    ['a stack without its rootfs', { stacks: [{ name: 'cflinuxfs4' }] }, /droplet_registry\.stacks\[0\] \(stack cflinuxfs4\) needs rootfs/],
    ['a stack with an empty rootfs', { stacks: [{ name: 'cflinuxfs4', rootfs: '' }] }, /droplet_registry\.stacks\[0\] \(stack cflinuxfs4\) needs rootfs/],
    ['a stack without a name', { stacks: [{ rootfs: '/var/vcap/data/x.tar' }] }, /droplet_registry\.stacks\[0\]\.name must be a stack name/],
    ['stacks as a hash', { stacks: { cflinuxfs4: '/var/vcap/data/x.tar' } }, /droplet_registry\.stacks must be a list of \{name, rootfs, foundation_rootfs\}/],
    ['a stack with an unknown key', { stacks: [{ name: 'a', rootfs: '/var/vcap/data/a.tar', path: 'x' }] }, /droplet_registry\.stacks\[0\] has unknown keys path/],
    ['a stack twice', { stacks: [{ name: 'a', rootfs: '/var/vcap/data/rootfs/a.tar' }, { name: 'a', rootfs: '/var/vcap/data/rootfs/b.tar' }] }, /droplet_registry\.stacks\[1\] repeats stack a/],
    ['a rootfs bpm would not show the registry', { stacks: [{ name: 'cflinuxfs4', rootfs: '/opt/rootfs.tar' }] }, /droplet_registry\.stacks\[0\]\.rootfs must lie under \/var\/vcap\/packages\/, \/var\/vcap\/data\/, \/var\/vcap\/store\//],
    ['a relative rootfs path', { stacks: [{ name: 'cflinuxfs4', rootfs: 'rootfs.tar' }] }, /droplet_registry\.stacks\[0\]\.rootfs must be an absolute path/],
    ['a foundation_rootfs bpm would not show the registry', { stacks: [{ name: 'cflinuxfs4', rootfs: '/var/vcap/data/r/c.tgz', foundation_rootfs: '/opt/rootfs.tar' }] }, /droplet_registry\.stacks\[0\]\.foundation_rootfs must lie under/],
    ['a foundation_rootfs that is the stack tarball', { stacks: [{ name: 'cflinuxfs4', rootfs: '/var/vcap/data/r/c.tgz', foundation_rootfs: '/var/vcap/data/r/c.tgz' }] }, /droplet_registry\.stacks\[0\]\.foundation_rootfs is the stack tarball itself/],
    ['a lifecycle tarball bpm would not show the registry', { lifecycle_tarball: '/tmp/lifecycle.tgz' }, /droplet_registry\.lifecycle_tarball must lie under/],
    ['a droplets directory bpm would not show the registry', { source: 'directory', directory: { droplets_dir: '/srv/droplets' } }, /droplet_registry\.directory\.droplets_dir must lie under/],
    ['a CA that is not PEM', { cc: { ca_cert: 'not a certificate' } }, /droplet_registry\.cc\.ca_cert must be PEM certificates \(-----BEGIN CERTIFICATE----- \.\.\.\); it holds none/],
    ['a private key as a CA', { cc: { droplet_blobstore_ca_cert: PREVIOUS_KEY } }, /droplet_registry\.cc\.droplet_blobstore_ca_cert must be PEM certificates .*it holds none/],
    // The registry reads CA files only when serve starts, after pre-start: caught here, not at run time.
    ['a CA whose certificate does not parse', { uaa: { ca_cert: FAKE_CERTIFICATE } }, /droplet_registry\.uaa\.ca_cert: certificate 1 of 1 does not parse/],
    ['a CA bundle whose second certificate does not parse', { database: { tls: { enabled: true, ca_cert: `${CA}${FAKE_CERTIFICATE}` } } }, /droplet_registry\.database\.tls\.ca_cert: certificate 2 of 2 does not parse/],
    ['an expired CA', { uaa: { ca_cert: EXPIRED_CA } }, /droplet_registry\.uaa\.ca_cert: no certificate in it is valid now \(\/CN=expired test CA: valid from \d{4}-\d\d-\d\dT[\d:]+Z to \d{4}-.*\); give a current one/],
    [
      "a CA from Cloud Controller's link that does not parse",
      {},
      /droplet_registry\.cc\.ca_cert \(empty: the cloud_controller_https_endpoint link's cc\.public_tls\.ca_cert\): certificate 1 of 1 does not parse/,
      {
        links: {
          ...defaultLinks(),
          cloud_controller_https_endpoint: { instances: [{ name: 'api', index: 0 }], properties: { cc: { internal_service_hostname: 'cc.internal', public_tls: { port: 9024, ca_cert: FAKE_CERTIFICATE } } } },
        },
      },
    ],
    // No token would carry such a scope: /admin would answer 403 to every admin, without saying why.
    ['an empty admin scope', { auth: { admin_scope: '' } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name, dot-separated words of letters, digits, _, - and : .*\(got ""\)/],
    ['two admin scopes', { auth: { admin_scope: 'a b' } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name/],
    ['comma-separated admin scopes', { auth: { admin_scope: 'cloud_controller.admin,uaa.admin' } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name/],
    ['an admin scope with an empty word', { auth: { admin_scope: 'cloud_controller..admin' } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name/],
    ['an admin scope ending in a dot', { auth: { admin_scope: 'cloud_controller.' } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name/],
    ['a numeric admin scope', { auth: { admin_scope: 42 } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name.*\(got 42\)/],
    ['an admin scope of 300 characters', { auth: { admin_scope: 'a'.repeat(300) } }, /droplet_registry\.auth\.admin_scope must be one UAA scope name.*at most 255 characters \(got "a{190,}\.\.\.\)/],
    ['a storage budget with a unit', { storage: { budget_in_gb: '20GB' } }, /droplet_registry\.storage\.budget_in_gb must be a number of GB from 0 \(no budget\) to 1048576 \(got "20GB"\)/],
    ['a negative storage budget', { storage: { budget_in_gb: -1 } }, /droplet_registry\.storage\.budget_in_gb must be a number of GB from 0/],
    ['a storage budget over a petabyte', { storage: { budget_in_gb: 2_000_000 } }, /droplet_registry\.storage\.budget_in_gb must be a number of GB from 0/],
    ['an s3 public endpoint under the registry\'s host', { blobstore: { type: 's3', s3: { bucket: 'b', public_endpoint: 'https://s3.registry.sys.example.com' } } }, /droplet_registry\.blobstore\.s3\.public_endpoint must not be the registry's host registry\.sys\.example\.com nor a subdomain/],
    ['an s3 endpoint on the registry\'s host', { blobstore: { type: 's3', s3: { bucket: 'b', endpoint: 'https://registry.sys.example.com:9000' } } }, /droplet_registry\.blobstore\.s3\.endpoint must not be the registry's host/],
    ['a webdav public endpoint on the registry\'s host', { blobstore: { type: 'webdav', webdav: { password: 'p', secret: 's', public_endpoint: 'https://registry.sys.example.com' } } }, /droplet_registry\.blobstore\.webdav\.public_endpoint must not be the registry's host/],
    ['a webdav CA that is not PEM', { blobstore: { webdav: { ca_cert: 'nope' } } }, /droplet_registry\.blobstore\.webdav\.ca_cert must be PEM certificates/],
    ['a blobstore under /var/vcap/packages', { blobstore: { fs: { root: '/var/vcap/packages/x' } } }, /droplet_registry\.blobstore\.fs\.root must be writable/],
    ['a database host with a slash', { database: { host: 'db/x' } }, /droplet_registry\.database\.host must be a host name or IP address/],
    ['a database port of 0', { database: { port: 0 } }, /droplet_registry\.database\.port must be an integer from 1 to 65535/],
    ['an empty database name', { database: { name: '' } }, /droplet_registry\.database\.name must not be empty/],
    ['database TLS as a string', { database: { tls: { enabled: 'yes' } } }, /droplet_registry\.database\.tls\.enabled must be true or false/],
    // The CA would go unused, and the connection unencrypted.
    ['a database CA without database TLS', { database: { tls: { ca_cert: CA } } }, /droplet_registry\.database\.tls\.ca_cert is set but droplet_registry\.database\.tls\.enabled is false: .*set droplet_registry\.database\.tls\.enabled to true/],
    // It was rendered as the IPv6 literal [sql-db.example.com:5432], which no URL parser takes.
    ['a database host with a port', { database: { host: 'sql-db.example.com:5432' } }, /droplet_registry\.database\.host must be a host name or IP address without a port: put the port in droplet_registry\.database\.port \(got "sql-db\.example\.com:5432"\)/],
    ['a bracketed IPv6 database host with a port', { database: { host: '[fd00::5]:5432' } }, /droplet_registry\.database\.host must be a host name or IP address without a port: put the port in droplet_registry\.database\.port/],
    ['a database host that is no IPv6 address', { database: { host: 'fd00::zz' } }, /droplet_registry\.database\.host must be a host name or IP address without a port/],
    // The job documents capi and directory; auto made the template's auth checks (none_force, the signing key) look at the wrong source.
    ['source auto', { source: 'auto' }, /droplet_registry\.source must be capi or directory \(got "auto"\)/],
    ['an unknown source', { source: 'git' }, /droplet_registry\.source must be capi or directory \(got "git"\)/],
    // bpm mounts a rootfs' folder: /var/vcap/data itself is not mounted.
    ['a rootfs directly in /var/vcap/data', { stacks: [{ name: 'cflinuxfs4', rootfs: '/var/vcap/data/rootfs.tar' }] }, /droplet_registry\.stacks\[0\]\.rootfs must lie in a folder of its own under \/var\/vcap\/data\/ or \/var\/vcap\/store\/.*\(got "\/var\/vcap\/data\/rootfs\.tar"\)/],
    ['a rootfs directly in /var/vcap/store', { stacks: [{ name: 'cflinuxfs4', rootfs: '/var/vcap/store/rootfs.tar' }] }, /droplet_registry\.stacks\[0\]\.rootfs must lie in a folder of its own under/],
    ['a lifecycle tarball directly in /var/vcap/data', { lifecycle_tarball: '/var/vcap/data/lifecycle.tgz' }, /droplet_registry\.lifecycle_tarball must lie in a folder of its own under/],
    // bin/healthy and post-start reach the registry through loopback, but gorouter reaches it from another VM.
    ['a loopback bind address', { bind_address: '127.0.0.1' }, /droplet_registry\.bind_address must not be a loopback address: gorouter, on another VM, could not reach the registry .*\(got "127\.0\.0\.1"\)/],
    ['another loopback bind address', { bind_address: '127.0.1.1' }, /droplet_registry\.bind_address must not be a loopback address/],
    ['the IPv6 loopback bind address', { bind_address: '::1' }, /droplet_registry\.bind_address must not be a loopback address/],
    ['localhost as the bind address', { bind_address: 'localhost' }, /droplet_registry\.bind_address must not be a loopback address/],
    ['a plain-HTTP public URL', { public_url: 'http://registry.sys.example.com' }, /droplet_registry\.public_url must be an https:\/\/ URL: clients send Cloud Foundry passwords/],
    ['an IPv4-mapped loopback bind address', { bind_address: '::ffff:127.0.0.1' }, /droplet_registry\.bind_address must not be a loopback address/],
    ['no time to wait for the rootfs', { rootfs_wait_timeout_in_seconds: 0 }, /droplet_registry\.rootfs_wait_timeout_in_seconds/],
    ['a negative migration retry count', { database: { migration_max_retries: -1 } }, /droplet_registry\.database\.migration_max_retries must be an integer of at least 0/],
    ['a negative drain timeout', { drain: { timeout_in_seconds: -1 } }, /droplet_registry\.drain\.timeout_in_seconds must be an integer of at least 1/],
    // 0 skipped the check below: drain would not wait at all, and bpm would end the process at once.
    ['a drain timeout of 0', { drain: { timeout_in_seconds: 0 } }, /droplet_registry\.drain\.timeout_in_seconds must be an integer of at least 1/],
    ['a drain timeout of 0 with no shutdown time', { drain: { timeout_in_seconds: 0 }, shutdown_timeout_in_seconds: 0 }, /droplet_registry\.drain\.timeout_in_seconds must be an integer of at least 1/],
    ['a shutdown timeout not under the drain timeout', { shutdown_timeout_in_seconds: 120 }, /droplet_registry\.shutdown_timeout_in_seconds \(120\) must be less than droplet_registry\.drain\.timeout_in_seconds \(120\)/],
    ['a health check timeout of 0', { health_check: { timeout_in_seconds: 0 } }, /droplet_registry\.health_check\.timeout_in_seconds must be an integer of at least 1/],
    ['an open files limit of 100', { open_files_limit: 100 }, /droplet_registry\.open_files_limit must be an integer of at least 1024/],
    ['a TLS certificate that is not one', { tls: { certificate: FAKE_CERTIFICATE, private_key: PREVIOUS_KEY } }, /droplet_registry\.tls\.certificate: certificate 1 of 1 does not parse/],
    ['an expired TLS certificate', { tls: { certificate: EXPIRED_CA, private_key: PREVIOUS_KEY } }, /droplet_registry\.tls\.certificate: no certificate in it is valid now \(\/CN=expired test CA/],
    ['an expired TLS certificate before a current intermediate', { tls: { certificate: `${EXPIRED_CA}${CA}`, private_key: PREVIOUS_KEY } }, /droplet_registry\.tls\.certificate \(\/CN=expired test CA\) is valid from .* not now: gorouter would refuse it/],
    [
      'the fs blobstore on two instances',
      {},
      /droplet_registry\.blobstore\.type fs keeps blobs on each instance's own disk, but this instance group has 2 instances.*use-cf-blobstore\.yml.*use-s3-blobstore\.yml.*use-azure-blobstore\.yml.*use-gcs-blobstore\.yml.*use-filesystem-blobstore\.yml/,
      { links: defaultLinks(2) },
    ],
  ];

  for (const [what, properties, message, options] of cases) {
    it(`${what}`, async (t) => {
      if (!requireRuby(t)) return;
      await assert.rejects(renderJob({ properties: withProperties(properties), links: options?.links }), (error: Error) => {
        assert.ok(error instanceof RenderError, String(error));
        assert.match(error.message, /Error filling in template 'config\.json\.erb' \(line \d+: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('the fs blobstore on two instances is accepted when its root is shared', async (t) => {
    if (!requireRuby(t)) return;
    const files = await renderJob({ properties: withProperties({ blobstore: { fs: { shared: true } } }), links: defaultLinks(2) });
    const config = loadRendered(files['config/config.json'] as string);
    assert.equal(config.blobstore.type, 'fs');
    assert.equal(config.blobstore.fsRoot, '/var/vcap/store/droplet-registry/blobstore');
  });

  it('secrets never appear in messages', async (t) => {
    if (!requireRuby(t)) return;
    const secret = 'TOP-SECRET-VALUE';
    for (const properties of [{ token: { signing_key: secret } }, { token: { previous_signing_key: secret } }, { tls: { private_key: [secret] } }]) {
      await assert.rejects(renderJob({ properties: withProperties(properties), templates: ['config.json.erb'] }), (error: Error) => {
        assert.doesNotMatch(error.message, new RegExp(secret));
        assert.match(error.message, /the value is not shown/);
        return true;
      });
    }
  });

  it('secrets YAML reads as numbers or booleans are refused (quote them), not silently rewritten', async (t) => {
    if (!requireRuby(t)) return;
    // An unquoted 0123 is the octal 83 to YAML 1.1 (the director's and the CLI's), 1e3 is 1000.0:
    // rendered as text they were another secret than the one the operator wrote.
    for (const [properties, name] of [
      [{ uaa: { client_secret: 83 } }, 'droplet_registry.uaa.client_secret'],
      [{ uaa: { login_client_secret: 1000.0 } }, 'droplet_registry.uaa.login_client_secret'],
      [{ database: { password: 83 } }, 'droplet_registry.database.password'],
      [{ blobstore: { type: 'webdav', webdav: { password: 83, secret: 's' } } }, 'droplet_registry.blobstore.webdav.password'],
      [{ blobstore: { type: 'webdav', webdav: { password: 'p', secret: true } } }, 'droplet_registry.blobstore.webdav.secret'],
      [{ blobstore: { type: 's3', s3: { bucket: 'b', access_key_id: 'AKIA', secret_access_key: 83 } } }, 'droplet_registry.blobstore.s3.secret_access_key'],
      [{ blobstore: { azure: { azure_storage_access_key: 83 } } }, 'droplet_registry.blobstore.azure.azure_storage_access_key'],
      [{ blobstore: { azure: { sas_token: 83 } } }, 'droplet_registry.blobstore.azure.sas_token'],
    ] as const) {
      await assert.rejects(renderJob({ properties: withProperties(properties), templates: ['config.json.erb'] }), (error: Error) => {
        assert.ok(error instanceof RenderError, String(error));
        assert.ok(error.message.includes(`${name} must be a string: quote it in the manifest`), error.message);
        assert.match(error.message, /\(the value is not shown\)/);
        assert.doesNotMatch(error.message, /\b83\b|1000/);
        return true;
      });
    }
  });

  it('reports a missing signing key together with the other missing choices', async (t) => {
    if (!requireRuby(t)) return;
    const properties = { droplet_registry: { uaa: { client_secret: 's' } } };
    await assert.rejects(renderJob({ properties, templates: ['config.json.erb'], links: defaultLinks(2) }), (error: Error) => {
      assert.match(error.message, /token\.signing_key is required.*; and .*blobstore\.type fs keeps blobs.*; and droplet_registry\.database\.host is required/);
      return true;
    });
  });

  it('a missing database host names the ops-files that provide one', async (t) => {
    if (!requireRuby(t)) return;
    const properties = { droplet_registry: { uaa: { client_secret: 's' }, auth: { none_force: true } } };
    await assert.rejects(renderJob({ properties, templates: ['config.json.erb'] }), /droplet_registry\.database\.host is required: .*use-cf-postgres-database\.yml.*use-external-database\.yml/);
  });

  it('a missing database password is bosh-template\'s unknown property', async (t) => {
    if (!requireRuby(t)) return;
    const properties = { droplet_registry: { uaa: { client_secret: 's' }, token: { signing_key: TOKEN_SIGNING_KEY }, database: { host: 'db' } } };
    await assert.rejects(renderJob({ properties, templates: ['config.json.erb'] }), /Can't find property '\["droplet_registry\.database\.password"\]'/);
  });

  it('a missing cloud_controller link fails as the director would', async (t) => {
    if (!requireRuby(t)) return;
    const links = defaultLinks();
    delete (links as Record<string, unknown>).cloud_controller;
    await assert.rejects(renderJob({ links }), /Failed to resolve link 'cloud_controller'/);
  });
});

/**
 * What the registry validates itself is not repeated in the template (config.json.erb: "ERB checks
 * only what BOSH alone knows"): these values render, and the registry refuses the rendered
 * config.json when pre-start runs `migrate` (or `import-rootfs`), with its message naming the key.
 */
describe('bad property values the registry refuses when pre-start loads config.json', () => {
  const cases: Array<[string, object, RegExp]> = [
    ['an unknown log level', { log_level: 'loud' }, /logLevel \(LOG_LEVEL\): must be one of the possible values/],
    ['a public URL with a path', { public_url: 'https://registry.example.com/v2' }, /publicUrl \(PUBLIC_URL\): must be an http\(s\) URL of a host \(and port\), without a path/],
    ['a bind address with a space', { bind_address: '0.0.0.0 ' }, /host \(HOST\): must be an IP address or host name/],
    ['a Cloud Controller URL that is not one', { cc: { url: 'cloud-controller:9024' } }, /capi\.url \(CAPI_URL\): must be an http\(s\) URL/],
    ['a UAA URL that is not one', { uaa: { url: 'uaa:8443' } }, /uaa\.url \(UAA_URL\): must be an http\(s\) URL/],
    ['the capi source without the client secret', { uaa: { client_secret: '' } }, /the capi source needs the registry's UAA client secret in uaa\.clientSecret \(UAA_CLIENT_SECRET\)/],
    ['an empty client id', { uaa: { client_id: '' } }, /the capi source needs the registry's UAA client in uaa\.clientId \(UAA_CLIENT_ID\)/],
    ['an unknown auth type', { auth: { type: 'ldap' } }, /auth \(AUTH\): must be one of the possible values/],
    ['auth uaa with the directory source', { source: 'directory', auth: { type: 'uaa' } }, /auth \(AUTH\) uaa needs the capi source/],
    ['a token lifetime of 30 s', { token: { ttl_in_seconds: 30 } }, /token\.ttlSeconds \(TOKEN_TTL_SECONDS\): must be a whole number of seconds from 60 to 300: value was 30/],
    ['a token lifetime of an hour', { token: { ttl_in_seconds: 3600 } }, /token\.ttlSeconds \(TOKEN_TTL_SECONDS\): must be a whole number of seconds from 60 to 300/],
    ['a token service with a space', { token: { service: 'a b' } }, /token\.service \(TOKEN_SERVICE\): must not contain spaces/],
    ['an empty login client', { uaa: { login_client_id: '' } }, /auth \(AUTH\) uaa needs .*uaa\.loginClientId \(UAA_LOGIN_CLIENT_ID\)/],
    ['a negative decision TTL', { auth: { decision_ttl_in_seconds: -5 } }, /authDecisionTtlMs \(AUTH_DECISION_TTL_MS\): must be a positive integer: value was -5000/],
    ['a login failure window of 0', { auth: { login_failures: { window_in_seconds: 0 } } }, /loginFailures\.windowMs \(LOGIN_FAILURES_WINDOW_MS\): must be a whole number of at least 1/],
    ['a negative login failure limit', { auth: { login_failures: { limit: -1 } } }, /loginFailures\.limit \(LOGIN_FAILURES_LIMIT\): must be a positive integer/],
    ['global auditors as a string', { auth: { allow_global_auditors: 'no' } }, /authAllowGlobalAuditors \(AUTH_ALLOW_GLOBAL_AUDITORS\): must be true or false/],
    ['a boolean that is a string', { prewarm: { enabled: 'yes' } }, /prewarm\.enabled \(PREWARM_ENABLED\): must be true or false/],
    ['a stack name that is not one', { stacks: [{ name: 'cf linuxfs4', rootfs: '/var/vcap/data/rootfs/x.tar' }] }, /stacks \(STACKS\): "cf linuxfs4" is not a valid stack name/],
    ['an empty default stack', { default_stack: '' }, /defaultStack \(DEFAULT_STACK\): must be a stack name/],
    ['a compression level of 10', { conversion: { compression_level: 10 } }, /conversion\.compressionLevel \(COMPRESSION_LEVEL\): must be an integer from 1 to 9/],
    ['no conversion slot', { conversion: { concurrency: 0 } }, /conversion\.concurrency \(CONVERSION_CONCURRENCY\): must be a whole number of at least 1/],
    ['a negative conversion queue', { conversion: { queue: -1 } }, /conversion\.queue \(CONVERSION_QUEUE\): must be a positive integer/],
    ['a conversion lease of 0', { conversion: { lease_in_seconds: 0 } }, /conversion\.leaseMs \(CONVERSION_LEASE_MS\): must be a whole number of at least 1/],
    ['a manifest wait of 0', { conversion: { manifest_wait_in_seconds: 0 } }, /conversion\.manifestWaitMs \(MANIFEST_WAIT_MS\): must be a whole number of at least 1/],
    ['a page size over CAPI\'s maximum', { cc: { page_size: 10_000 } }, /capi\.pageSize \(CAPI_PAGE_SIZE\): must be a whole number from 1 to 5000/],
    ['a Cloud Controller timeout of 0', { cc: { timeout_in_seconds: 0 } }, /capi\.timeoutMs \(CAPI_TIMEOUT_MS\): must be a whole number of at least 1/],
    ['an unknown blobstore', { blobstore: { type: 'gcs' } }, /blobstore\.type \(BLOBSTORE\): must be one of the possible values: \["fs","s3","webdav","azure"\]: value was "gcs"/],
    ['s3 without a bucket', { blobstore: { type: 's3' } }, /the s3 blobstore needs blobstore\.s3\.bucket \(S3_BUCKET\)/],
    ['s3 with an empty region', { blobstore: { type: 's3', s3: { bucket: 'b', region: '' } } }, /the s3 blobstore needs blobstore\.s3\.region \(S3_REGION\)/],
    ['s3 with an access key id and no secret', { blobstore: { type: 's3', s3: { bucket: 'b', access_key_id: 'AKIA' } } }, /both or neither of blobstore\.s3\.accessKeyId \(S3_ACCESS_KEY_ID\) and blobstore\.s3\.secretAccessKey \(S3_SECRET_ACCESS_KEY\)/],
    ['s3 with a secret and no access key id', { blobstore: { type: 's3', s3: { bucket: 'b', secret_access_key: 'x' } } }, /both or neither of blobstore\.s3\.accessKeyId \(S3_ACCESS_KEY_ID\) and blobstore\.s3\.secretAccessKey \(S3_SECRET_ACCESS_KEY\)/],
    ['an s3 endpoint that is not a URL', { blobstore: { s3: { endpoint: 'minio:9000' } } }, /blobstore\.s3\.endpoint \(S3_ENDPOINT\): must be an http\(s\) URL/],
    ['s3 presigned URLs beyond SigV4\'s week', { blobstore: { s3: { presign_expiry_in_seconds: 700_000 } } }, /blobstore\.s3\.presignExpirySeconds \(S3_PRESIGN_EXPIRY_SECONDS\): must be a whole number of seconds from 1 to 604800/],
    ['webdav without the admin password', { blobstore: { type: 'webdav', webdav: { secret: 's' } } }, /the webdav blobstore needs blobstore\.webdav\.password \(WEBDAV_PASSWORD\)/],
    ['webdav without the secure link secret', { blobstore: { type: 'webdav', webdav: { password: 'p' } } }, /the webdav blobstore needs blobstore\.webdav\.secret \(WEBDAV_SECRET\)/],
    ['webdav without a password or secret, and no cloud_controller_internal link to give them', { blobstore: { type: 'webdav' } }, /the webdav blobstore needs blobstore\.webdav\.password \(WEBDAV_PASSWORD\), blobstore\.webdav\.secret \(WEBDAV_SECRET\)/],
    ['a webdav private endpoint that is not a URL', { blobstore: { webdav: { private_endpoint: 'blobstore:4443' } } }, /blobstore\.webdav\.privateEndpoint \(WEBDAV_PRIVATE_ENDPOINT\): must be an http\(s\) URL/],
    ['a webdav public endpoint that is not a URL', { blobstore: { webdav: { public_endpoint: 'blobstore' } } }, /blobstore\.webdav\.publicEndpoint \(WEBDAV_PUBLIC_ENDPOINT\): must be an http\(s\) URL/],
    ['a webdav directory key with a slash', { blobstore: { webdav: { directory_key: 'a/b' } } }, /blobstore\.webdav\.directoryKey \(WEBDAV_DIRECTORY_KEY\): must be one directory name/],
    ['Cloud Controller\'s droplets directory', { blobstore: { webdav: { directory_key: 'cc-droplets' } } }, /blobstore\.webdav\.directoryKey \(WEBDAV_DIRECTORY_KEY\): .*not one of Cloud Controller's/],
    ['a webdav link expiry of 0', { blobstore: { webdav: { link_expiry_in_seconds: 0 } } }, /blobstore\.webdav\.linkExpirySeconds \(WEBDAV_LINK_EXPIRY_SECONDS\): must be a whole number of at least 1/],
    ['a database schema that is not an identifier', { database: { schema: 'Registry-1' } }, /database\.schema \(DATABASE_SCHEMA\): must be a lower-case SQL identifier/],
    ['a database pool of 0', { database: { pool_max: 0 } }, /database\.poolMax \(DATABASE_POOL_MAX\): must be a whole number of at least 1/],
    ['a request timeout under the headers timeout', { headers_timeout_in_seconds: 30, request_timeout_in_seconds: 10 }, /requestTimeoutMs \(REQUEST_TIMEOUT_MS\) 10000 is less than headersTimeoutMs \(HEADERS_TIMEOUT_MS\) 30000/],
    ['a headers timeout of 0', { headers_timeout_in_seconds: 0 }, /headersTimeoutMs \(HEADERS_TIMEOUT_MS\): must be a whole number of at least 1/],
    ['a timeout that is no whole number of seconds', { response_stall_timeout_in_seconds: 'soon' }, /responseStallTimeoutMs \(RESPONSE_STALL_TIMEOUT_MS\): must be a whole number of at least 1: value was "soon"/],
    ['metrics on the registry\'s own port', { port: 9090, metrics: { port: 9090 } }, /metrics\.port \(METRICS_PORT\) 9090 is also the registry's port; choose another, or 0/],
    ['a metrics port of 70000', { metrics: { port: 70_000 } }, /metrics\.port \(METRICS_PORT\): ports must be within range 0 - 65535/],
    ['a metrics bind address with a space', { metrics: { bind_address: 'a b' } }, /metrics\.host \(METRICS_HOST\): must be an IP address or host name, or empty/],
    ['a blob grace period under 5 minutes', { gc: { blob_grace_in_seconds: 60 } }, /gc\.blobGraceMs \(GC_BLOB_GRACE_MS\): must be a whole number of milliseconds of at least 300000 \(5 minutes\): value was 60000/],
    ['a negative retention', { gc: { image_retention_days: -1 } }, /gc\.imageRetentionDays \(GC_IMAGE_RETENTION_DAYS\): must be a positive integer/],
    ['a TLS key without its certificate', { tls: { private_key: PREVIOUS_KEY } }, /HTTPS needs both tls\.cert \(TLS_CERT\) and tls\.key \(TLS_KEY\), or neither/],
  ];

  for (const [what, properties, message] of cases) {
    it(`${what}`, async (t) => {
      if (!requireRuby(t)) return;
      const files = await renderJob({ properties: withProperties(properties) });
      assert.throws(() => loadRendered(files['config/config.json'] as string), (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /^invalid configuration: /);
        assert.match(error.message, message);
        return true;
      });
    });
  }

  it('a TLS certificate without its key', async (t) => {
    if (!requireRuby(t)) return;
    if (!SERVER_TLS) return void skipOrFail(t, caProblem as string);
    const files = await renderJob({ properties: withProperties({ tls: { certificate: SERVER_TLS.cert } }) });
    assert.throws(() => loadRendered(files['config/config.json'] as string), /HTTPS needs both tls\.cert \(TLS_CERT\) and tls\.key \(TLS_KEY\), or neither/);
  });

  it('never shows a secret the registry refuses', async (t) => {
    if (!requireRuby(t)) return;
    const secret = 'TOP-SECRET-VALUE';
    for (const [properties, key] of [
      [{ uaa: { login_client_secret: [secret] } }, /uaa\.loginClientSecret \(UAA_LOGIN_CLIENT_SECRET\): must be of type String$/m],
      [{ uaa: { client_secret: [secret, 'more'] } }, /uaa\.clientSecret \(UAA_CLIENT_SECRET\): must be of type String$/m],
      [{ blobstore: { webdav: { password: [secret] } } }, /blobstore\.webdav\.password \(WEBDAV_PASSWORD\): must be of type String$/m],
    ] as const) {
      const files = await renderJob({ properties: withProperties(properties), templates: ['config.json.erb'] });
      assert.throws(() => loadRendered(files['config/config.json'] as string), (error: Error) => {
        assert.match(error.message, key);
        assert.doesNotMatch(error.message, new RegExp(secret));
        return true;
      });
    }
  });

  it('takes quoted numbers as numbers, and numbers as text where text is due', async (t) => {
    if (!requireRuby(t)) return;
    const files = await renderJob({
      properties: withProperties({ headers_timeout_in_seconds: '20', conversion: { concurrency: '3' }, blobstore: { type: 's3', s3: { bucket: 2024, prefix: 7 } } }),
      templates: ['config.json.erb'],
    });
    const config = loadRendered(files['config/config.json'] as string);
    assert.deepEqual([config.headersTimeoutMs, config.conversion.concurrency, config.blobstore.s3.bucket, config.blobstore.s3.prefix], [20_000, 3, '2024', '7']);
  });
});

describe('bpm.yml', () => {
  it('runs `droplet-registry serve` on the node package with the rendered config', async (t) => {
    if (!requireRuby(t)) return;
    const spec = readJobSpec();
    const bpm = parseYaml(await renderTemplate('bpm.yml.erb')) as { processes: Array<Record<string, unknown>> };
    assert.equal(bpm.processes.length, 1);
    const [process] = bpm.processes as [Record<string, unknown>];
    assert.equal(process.name, 'droplet-registry');
    assert.equal(process.executable, '/var/vcap/packages/node/bin/node');
    assert.deepEqual(process.args, [
      '/var/vcap/packages/droplet-registry/dist/cli.js',
      'serve',
      '--config',
      `/var/vcap/jobs/droplet-registry/${spec.templates['config.json.erb']}`,
    ]);
    assert.equal(process.ephemeral_disk, true);
    assert.equal(process.persistent_disk, true, 'the fs blobstore is on /var/vcap/store/droplet-registry by default');
    assert.deepEqual(process.limits, { open_files: 65536 });
    assert.equal(process.additional_volumes, undefined);
    assert.equal((process.env as Record<string, string>).NODE_ENV, 'production');
  });

  it('mounts what lies outside the job\'s own directories: read-only rootfs, a writable blobstore', async (t) => {
    if (!requireRuby(t)) return;
    const properties = withProperties({
      stacks: [
        { name: 'cflinuxfs4', rootfs: '/var/vcap/data/cflinuxfs4/rootfs.tar', foundation_rootfs: '/var/vcap/data/foundation/rootfs.tar' },
        { name: 'other', rootfs: '/var/vcap/packages/other/rootfs.tar' },
      ],
      blobstore: { fs: { root: '/var/vcap/store/shared-blobs' } },
    });
    const bpm = parseYaml(await renderTemplate('bpm.yml.erb', { properties })) as { processes: Array<Record<string, unknown>> };
    const [process] = bpm.processes as [Record<string, unknown>];
    assert.equal(process.persistent_disk, false);
    assert.deepEqual(process.additional_volumes, [
      { path: '/var/vcap/data/cflinuxfs4', writable: false, mount_only: true },
      { path: '/var/vcap/data/foundation', writable: false, mount_only: true },
      { path: '/var/vcap/store/shared-blobs', writable: true },
    ]);
  });
});

describe('scripts', () => {
  for (const script of ['bin/pre-start', 'bin/drain', 'bin/healthy']) {
    it(`${script} is valid bash`, async (t) => {
      if (!requireRuby(t)) return;
      const dir = mkdtempSync(join(scratch, 'job-'));
      await renderJob({}, dir);
      const path = join(dir, script);
      assert.ok(statSync(path).mode & 0o100, `${script} is executable`);
      assert.match(readFileSync(path, 'utf8'), /^#!\/usr\/bin\/env bash\n/);
      await run('bash', ['-n', path]);
    });
  }

  it("property_names.sed names a job property for every environment variable the registry's messages name", async (t) => {
    if (!requireRuby(t)) return;
    const sed = await renderTemplate('property_names.sed.erb');
    // A key the job does not render yet has no property yet ('renders every key of the configuration schema' reports it).
    const rendered = JSON.parse(await renderTemplate('config.json.erb')) as Record<string, unknown>;
    const isRendered = (variable: string) => renderedKeys(rendered).some((key) => envNameOfKey(key) === variable);
    const named = new Map([...sed.matchAll(/^s\/\\b([A-Z0-9_]+)\\b\/((?:\\\/|[^/])+)\/g$/gm)].map((match) => [match[1] as string, match[2] as string]));
    assert.deepEqual(configEnvironmentVariables().filter((variable) => !named.has(variable) && isRendered(variable)), []);
    for (const [variable, replacement] of named) {
      const property = /^droplet_registry\.[a-z0-9_.]+/.exec(replacement)?.[0];
      if (variable === 'DATA_DIR') continue; // set by the job, no property
      assert.ok(property && property in readJobSpec().properties, `${variable}: ${replacement} names no property of the job`);
    }
  });

  it("pre-start's registry commands print the registry's refusals with the properties to fix, keeping stdout and the exit status", async (t) => {
    if (!requireRuby(t)) return;
    const dir = mkdtempSync(join(scratch, 'property-names-'));
    const files = await renderJob({ properties: withProperties({ cc: { page_size: 10_000 }, database: { migration_max_retries: 0 } }), templates: ['config.json.erb', 'pre-start.erb', 'property_names.sed.erb'] }, dir);
    // The registry's own message for the rendered configuration.
    const refusal = (() => {
      try {
        loadRendered(files['config/config.json'] as string);
      } catch (error) {
        return (error as Error).message;
      }
      assert.fail('the registry accepted a page size of 10000');
    })();
    assert.match(refusal, /capi\.pageSize \(CAPI_PAGE_SIZE\)/);
    // pre-start's functions, on a stand-in VM whose registry command prints that refusal and exits 2.
    const vm = join(dir, 'vm');
    const script = relocateTo(files['bin/pre-start'] as string, vm).replace(/\nmain\n$/, '\n');
    mkdirSync(join(vm, 'var/vcap/jobs/droplet-registry/config'), { recursive: true });
    writeFileSync(join(vm, 'var/vcap/jobs/droplet-registry/config/property_names.sed'), files['config/property_names.sed'] as string);
    mkdirSync(join(vm, 'var/vcap/packages/node/bin'), { recursive: true });
    writeFileSync(join(vm, 'var/vcap/packages/node/bin/node'), `#!/bin/sh\necho '{"level":30,"msg":"loading PORT"}'\necho ${JSON.stringify(refusal)} >&2\nexit 2\n`, { mode: 0o755 });
    writeFileSync(join(dir, 'functions.sh'), script);
    const result = await run('bash', ['-c', `source ${join(dir, 'functions.sh')}; retry migration registry migrate`]).then(
      () => assert.fail('pre-start passed a refused configuration'),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /capi\.pageSize \(droplet_registry\.cc\.page_size\): must be a whole number from 1 to 5000/);
    assert.doesNotMatch(result.stderr, /CAPI_PAGE_SIZE/);
    assert.match(result.stdout, /"msg":"loading PORT"/, 'stdout (the JSON log) is left as it is');
    assert.match(result.stdout, /not retrying/);
  });

  it('bin/healthy and post-start pass what /readyz says through property_names.sed', async (t) => {
    if (!requireRuby(t)) return;
    const healthy = await renderTemplate('healthy.erb');
    assert.match(healthy, /\| *\n? *sed -f \/var\/vcap\/jobs\/droplet-registry\/config\/property_names\.sed >&2/);
    const sed = join(scratch, 'property_names.sed');
    writeFileSync(sed, await renderTemplate('property_names.sed.erb'));
    const translate = async (text: string) => (await run('bash', ['-c', `printf '%s' "$1" | sed -f ${sed}`, '_', text])).stdout;
    assert.equal(await translate('no stack rootfs configured (STACKS): every droplet'), 'no stack rootfs configured (droplet_registry.stacks): every droplet');
    assert.equal(await translate('set authNoneForce (AUTH_NONE_FORCE=true) to accept that'), 'set authNoneForce (droplet_registry.auth.none_force: true) to accept that');
    assert.equal(await translate('run `droplet-registry migrate` first, or set DATABASE_MIGRATE=true'), 'run `droplet-registry migrate` first, or set droplet_registry.database.run_migrations (pre-start of the bootstrap instance migrates): true');
    assert.equal(await translate('metrics.port (METRICS_PORT) 9090'), 'metrics.port (droplet_registry.metrics.port) 9090', 'a longer name is not taken for PORT');
  });

  it('pre-start migrates on the bootstrap instance only, and only when asked to', async (t) => {
    if (!requireRuby(t)) return;
    const migrates = async (spec: object, extra: object = {}) =>
      /^readonly RUN_MIGRATIONS=true$/m.test(await renderTemplate('pre-start.erb', { spec, properties: withProperties(extra) }));
    assert.equal(await migrates({ bootstrap: true }), true);
    assert.equal(await migrates({ bootstrap: false, index: 1 }), false);
    assert.equal(await migrates({ bootstrap: true }, { database: { run_migrations: false } }), false);
  });

  it('pre-start retries a failing command, but not a configuration the registry refuses (exit status 2)', async (t) => {
    if (!requireRuby(t)) return;
    const script = await renderTemplate('pre-start.erb', { properties: withProperties({ database: { migration_max_retries: 2, migration_retry_interval_in_seconds: 0 } }) });
    assert.match(script, /\nmain\n$/);
    const dir = mkdtempSync(join(scratch, 'pre-start-'));
    // The script's functions without its `main` call, under its own `set -euo pipefail`.
    writeFileSync(join(dir, 'functions.sh'), script.replace(/\nmain\n$/, '\n'));
    const attempts = async (status: number) => {
      const counter = join(dir, `attempts-${status}`);
      const result = await run('bash', ['-c', `source ${join(dir, 'functions.sh')}; retry "migration" bash -c 'echo x >> ${counter}; exit ${status}'; echo finished`]).then(
        (done) => ({ code: 0, stdout: done.stdout }),
        (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
      );
      return { ...result, attempts: readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
    };
    const refused = await attempts(2);
    assert.deepEqual([refused.code, refused.attempts], [2, 1], 'a refused configuration fails pre-start at once');
    assert.match(refused.stdout, /migration failed: the registry refused its configuration .*not retrying/);
    assert.doesNotMatch(refused.stdout, /finished/);
    const failing = await attempts(1);
    assert.deepEqual([failing.code, failing.attempts], [1, 3], 'other failures are retried migration_max_retries times');
    const passing = await attempts(0);
    assert.deepEqual([passing.code, passing.attempts], [0, 1]);
    assert.match(passing.stdout, /finished/);
  });

  it('pre-start waits for every stack\'s rootfs', async (t) => {
    if (!requireRuby(t)) return;
    const script = await renderTemplate('pre-start.erb', {
      properties: withProperties({ stacks: [{ name: 'a', rootfs: '/var/vcap/data/a b.tar' }, { name: 'c', rootfs: '/var/vcap/packages/c/rootfs.tar' }] }),
    });
    assert.match(script, /^ {2}wait_for_rootfs a \/var\/vcap\/data\/a\\ b\.tar droplet_registry\.stacks\\\[0\\\]\.rootfs$/m);
    assert.match(script, /^ {2}package_rootfs c \/var\/vcap\/packages\/c\/rootfs\.tar droplet_registry\.stacks\\\[1\\\]\.rootfs$/m);
  });

  it('pre-start waits for a stack\'s foundation_rootfs even in a package: the set-up job writes it there in its own pre-start', async (t) => {
    if (!requireRuby(t)) return;
    const script = await renderTemplate('pre-start.erb', { properties: withProperties({}) });
    assert.match(script, /^ {2}package_rootfs cflinuxfs4 \/var\/vcap\/packages\/cflinuxfs4\/cflinuxfs4\.tar\.gz droplet_registry\.stacks\\\[0\\\]\.rootfs$/m);
    assert.match(script, /^ {2}wait_for_rootfs cflinuxfs4 \/var\/vcap\/packages\/cflinuxfs4\/rootfs\.tar droplet_registry\.stacks\\\[0\\\]\.foundation_rootfs$/m);
  });

  it('pre-start does not wait for a rootfs missing from a package: it cannot appear later', async (t) => {
    if (!requireRuby(t)) return;
    const dir = mkdtempSync(join(scratch, 'pre-start-rootfs-'));
    const present = join(dir, 'var/vcap/packages/present/rootfs.tar');
    const script = relocateTo(
      await renderTemplate('pre-start.erb', {
        properties: withProperties({
          rootfs_wait_timeout_in_seconds: 60,
          stacks: [
            { name: 'present', rootfs: '/var/vcap/packages/present/rootfs.tar' },
            { name: 'gone', rootfs: '/var/vcap/packages/gone/rootfs.tar' },
          ],
        }),
      }),
      dir,
    );
    mkdirSync(dirname(present), { recursive: true });
    writeFileSync(present, 'tar');
    writeFileSync(join(dir, 'functions.sh'), script.replace(/\nmain\n$/, '\n'));
    const checks = script.split('\n').filter((line) => /^ {2}(package_rootfs|wait_for_rootfs) \S+ \S+ droplet_registry\.stacks/.test(line));
    assert.equal(checks.length, 2);
    const runChecks = (lines: string[]) =>
      run('bash', ['-c', `source ${join(dir, 'functions.sh')}\n${lines.join('\n')}\necho checked`], { timeout: 20_000 }).then(
        (done) => ({ code: 0, stdout: done.stdout }),
        (error: { code: number | null; stdout: string; killed?: boolean }) => ({ code: error.killed ? 'killed after 20 s' : error.code, stdout: error.stdout }),
      );
    const ok = await runChecks([checks[0] as string]);
    assert.deepEqual([ok.code, ok.stdout.trim().split('\n').at(-1)], [0, 'checked'], 'a file in its package passes');
    const missing = await runChecks([checks[1] as string]);
    assert.equal(missing.code, 1, 'a file missing from its package fails at once, not after rootfs_wait_timeout_in_seconds');
    assert.match(missing.stdout, /the rootfs of stack gone \(\S+\/var\/vcap\/packages\/gone\/rootfs\.tar, droplet_registry\.stacks\[1\]\.rootfs\) is not in its package/);
    assert.doesNotMatch(missing.stdout, /checked/);
  });

  it('healthy asks /readyz on the configured port, through loopback when bound to all interfaces, over HTTPS with TLS', async (t) => {
    if (!requireRuby(t)) return;
    const plain = await renderTemplate('healthy.erb', { properties: withProperties({ port: 9000 }) });
    assert.match(plain, / http:\/\/127\.0\.0\.1:9000\/readyz\)/);
    assert.doesNotMatch(plain, /--insecure/);
    assert.match(await renderTemplate('healthy.erb', { properties: withProperties({ bind_address: '10.0.0.7' }) }), / http:\/\/10\.0\.0\.7:8080\/readyz\)/);
    assert.match(await renderTemplate('healthy.erb', { properties: withProperties({ bind_address: 'fd00::7' }) }), / http:\/\/\\\[fd00::7\\\]:8080\/readyz\)/);
    const tls = await renderTemplate('healthy.erb', { properties: withProperties({ port: 8443, tls: { certificate: 'x', private_key: 'y' } }) });
    assert.match(tls, / https:\/\/127\.0\.0\.1:8443\/readyz\)/);
    assert.match(tls, /--insecure/, 'the certificate names the route, not loopback');
  });

  it('healthy passes the bind address to curl as one word, whatever it holds', async (t) => {
    if (!requireRuby(t)) return;
    const dir = mkdtempSync(join(scratch, 'healthy-'));
    const bind = "10.0.0.7';touch${IFS}INJECTED;'";
    writeFileSync(join(dir, 'healthy'), await renderTemplate('healthy.erb', { properties: withProperties({ bind_address: bind }) }), { mode: 0o755 });
    // A curl that records its arguments and answers 200.
    writeFileSync(join(dir, 'curl'), `#!/bin/sh\nprintf '%s\\n' "$@" > ${join(dir, 'curl-args')}\nprintf 'ok\\n200'\n`, { mode: 0o755 });
    await run('bash', [join(dir, 'healthy')], { cwd: dir, env: { PATH: `${dir}:${process.env.PATH}` } });
    assert.equal(existsSync(join(dir, 'INJECTED')), false, 'the bind address ran as a command');
    assert.ok(readFileSync(join(dir, 'curl-args'), 'utf8').split('\n').includes(`http://${bind}:8080/readyz`));
  });

  it('prom_scraper_config.yml points loggregator\'s prom_scraper at the metrics listener, else at the registry\'s port', async (t) => {
    if (!requireRuby(t)) return;
    const scrape = async (extra: object) => parseYaml(await renderTemplate('prom_scraper_config.yml.erb', { properties: withProperties(extra), spec: { id: 'registry-0-id' } })) as Record<string, unknown>;
    assert.deepEqual(await scrape({}), { source_id: 'droplet-registry', instance_id: 'registry-0-id', path: '/metrics', port: 9090, scheme: 'http' });
    assert.deepEqual(await scrape({ metrics: { port: 0 } }), { source_id: 'droplet-registry', instance_id: 'registry-0-id', path: '/metrics', port: 8080, scheme: 'http' });
    const tls = await scrape({ port: 8443, metrics: { port: 0 }, tls: { certificate: 'x', private_key: 'y' } });
    assert.deepEqual([tls.port, tls.scheme, tls.server_name], [8443, 'https', 'registry.sys.example.com']);
  });

  it('monit hands the process to bpm under the pid file drain reads', async (t) => {
    if (!requireRuby(t)) return;
    const monit = readFileSync(join(JOB_DIR, 'monit'), 'utf8');
    const pidFile = '/var/vcap/sys/run/bpm/droplet-registry/droplet-registry.pid';
    assert.match(monit, /^check process droplet-registry$/m);
    assert.ok(monit.includes(`with pidfile ${pidFile}`));
    assert.ok(monit.includes('start program "/var/vcap/jobs/bpm/bin/bpm start droplet-registry"'));
    assert.ok(monit.includes('stop program "/var/vcap/jobs/bpm/bin/bpm stop droplet-registry"'));
    assert.ok((await renderTemplate('drain.erb')).includes(`PID_FILE=${pidFile}`));
  });
});

/** `actual` cut down to the keys of `shape`, recursively through plain objects. */
function pickLike(actual: unknown, shape: unknown): unknown {
  if (typeof shape !== 'object' || shape === null || Array.isArray(shape) || typeof actual !== 'object' || actual === null) return actual;
  return Object.fromEntries(Object.keys(shape).map((key) => [key, pickLike((actual as Record<string, unknown>)[key], (shape as Record<string, unknown>)[key])]));
}

/**
 * Configuration keys the job leaves to the service's defaults for now: a key being added to the
 * schema goes here until it has landed and the job has a property for it. Empty: the job renders
 * every key.
 */
const NOT_YET_EXPOSED = new Set<string>([]);

/** The dotted configuration keys of a rendered config.json (each leaf, arrays and `stacks` as one). */
function renderedKeys(config: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(config).flatMap(([key, value]) =>
    value && typeof value === 'object' && !Array.isArray(value) && envNameOfKey(`${prefix}${key}`) === undefined ? renderedKeys(value as Record<string, unknown>, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

/** The environment variable of configuration key `key` (dotted). */
function envNameOfKey(key: string): string | undefined {
  let node: unknown = configSchema;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return (node as { env?: string } | undefined)?.env;
}

/** The top-level keys config.json.erb renders. */
const RENDERED_KEYS = new Set([
  'port',
  'host',
  'headersTimeoutMs',
  'requestTimeoutMs',
  'responseStallTimeoutMs',
  'blobStreamsPerClient',
  'trustedProxyHops',
  'tls',
  'shutdownTimeoutMs',
  'publicUrl',
  'dataDir',
  'logLevel',
  'database',
  'blobstore',
  'source',
  'capi',
  'uaa',
  'prewarm',
  'auth',
  'authNoneForce',
  'token',
  'authDecisionTtlMs',
  'upstreamStaleIfErrorMs',
  'authUpstreamConcurrency',
  'authAllowGlobalAuditors',
  'adminScope',
  'loginFailures',
  'metrics',
  'gc',
  'dropletsDir',
  'stacks',
  'stackFoundations',
  'defaultStack',
  'lifecycleTarball',
  'conversion',
  'storage',
]);
