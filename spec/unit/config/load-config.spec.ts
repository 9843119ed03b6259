import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, configEnvironmentVariables, loadConfig } from '../../../src/config/load-config.ts';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'config-')), 'config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('loadConfig', () => {
  it('starts with zero configuration: embedded database and everything under ./data', () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.port, 5000);
    assert.equal(config.database.url, '');
    assert.equal(config.database.schema, 'droplet_registry');
    assert.equal(config.dataDir, resolve('data'));
    assert.equal(config.blobstore.fsRoot, resolve('data', 'blobstore'));
    assert.equal(config.dropletsDir, resolve('data', 'droplets'));
    assert.deepEqual(config.stacks, {});
  });

  it('reads the documented environment variables', () => {
    const config = loadConfig({
      env: {
        PORT: '6000',
        HOST: '0.0.0.0',
        DATA_DIR: '/srv/registry',
        DATABASE_URL: 'postgres://u@db/x',
        DATABASE_SCHEMA: 'reg',
        DROPLETS_DIR: '/droplets',
        STACKS: 'cflinuxfs4=/rootfs/fs4.tgz, cflinuxfs3=/rootfs/fs3.tgz',
        LOG_LEVEL: 'debug',
        COMPRESSION_LEVEL: '6',
      },
    });
    assert.equal(config.port, 6000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.database.url, 'postgres://u@db/x');
    assert.equal(config.database.schema, 'reg');
    assert.equal(config.blobstore.fsRoot, '/srv/registry/blobstore');
    assert.equal(config.dropletsDir, '/droplets');
    assert.deepEqual(config.stacks, { cflinuxfs4: '/rootfs/fs4.tgz', cflinuxfs3: '/rootfs/fs3.tgz' });
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.conversion.compressionLevel, 6);
  });

  it('loads --config files with the same keys, the environment winning', () => {
    const file = configFile({ port: 7000, host: '0.0.0.0', stacks: { cflinuxfs4: '/r.tgz' }, conversion: { compressionLevel: 3 } });
    const config = loadConfig({ file, env: { PORT: '7100' } });
    assert.equal(config.port, 7100);
    assert.equal(config.host, '0.0.0.0');
    assert.deepEqual(config.stacks, { cflinuxfs4: '/r.tgz' });
    assert.equal(config.conversion.compressionLevel, 3);
  });

  it('stops on invalid values with a message naming the key and its variable', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ PORT: 'abc' }, /port \(PORT\)/],
      [{ STACKS: 'cflinuxfs4' }, /stacks \(STACKS\): "cflinuxfs4" is not of the form <stack>=<path/],
      [{ COMPRESSION_LEVEL: '12' }, /conversion\.compressionLevel \(COMPRESSION_LEVEL\): must be an integer from 1 to 9/],
      [{ LOG_LEVEL: 'loud' }, /logLevel \(LOG_LEVEL\)/],
      [{ DATABASE_SCHEMA: 'Robert"; drop' }, /database\.schema \(DATABASE_SCHEMA\)/],
      [{ PUBLIC_URL: 'registry.example.com' }, /publicUrl \(PUBLIC_URL\)/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig({ env }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  it('takes Cloud Controller as the source when CAPI_URL is set, and checks what it needs', () => {
    const capi = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret', AUTH: 'none', AUTH_NONE_FORCE: 'true' };
    const config = loadConfig({ env: capi });
    assert.equal(config.source, 'capi');
    assert.equal(config.uaa.clientId, 'droplet_registry');
    assert.equal(config.uaa.url, '', 'discovered from the root links');
    assert.equal(loadConfig({ env: { ...capi, SOURCE: 'directory' } }).source, 'directory');
    assert.equal(loadConfig({ env: {} }).source, 'directory');
    assert.throws(() => loadConfig({ env: { ...capi, UAA_CLIENT_SECRET: '' } }), /UAA client secret .*UAA_CLIENT_SECRET/);
    assert.throws(() => loadConfig({ env: { SOURCE: 'capi' } }), /capi\.url \(CAPI_URL\)/);
    assert.throws(() => loadConfig({ env: { ...capi, CAPI_URL: 'api.sys.example.com' } }), /capi\.url \(CAPI_URL\): must be an http\(s\) URL/);
  });

  it('refuses anonymous pulls of a whole foundation unless forced', () => {
    const env = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret', AUTH: 'none' };
    assert.throws(() => loadConfig({ env }), /AUTH_NONE_FORCE=true/);
    assert.equal(loadConfig({ env: { ...env, AUTH_NONE_FORCE: 'true' } }).authNoneForce, true);
  });

  it('authenticates users with the capi source, and refuses to start without a token signing key', () => {
    const capi = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret' };
    assert.throws(() => loadConfig({ env: capi }), (error: unknown) => error instanceof ConfigError && /TOKEN_SIGNING_KEYS/.test(error.message));
    const config = loadConfig({ env: { ...capi, TOKEN_SIGNING_KEYS: '/keys/new.pem, /keys/old.pem' } });
    assert.equal(config.auth, 'uaa');
    assert.deepEqual(config.token, { signingKeys: ['/keys/new.pem', '/keys/old.pem'], ttlSeconds: 300, service: '', maxRepositories: 16, requestsPerClient: 4 });
    assert.deepEqual([config.uaa.loginClientId, config.uaa.loginClientSecret], ['cf', '']);
    assert.deepEqual([config.authDecisionTtlMs, config.adminScope, config.loginFailures], [60_000, 'cloud_controller.admin', { limit: 5, windowMs: 60_000 }]);
    assert.equal(loadConfig({ env: {} }).auth, 'none', 'the directory source has no users');
    assert.throws(() => loadConfig({ env: { AUTH: 'uaa', TOKEN_SIGNING_KEYS: '/k.pem' } }), /auth \(AUTH\) uaa needs the capi source/);
  });

  it('reads the auth settings and bounds the token lifetime to what clients accept', () => {
    const env = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret', TOKEN_SIGNING_KEYS: '/k.pem' };
    const config = loadConfig({
      env: {
        ...env,
        TOKEN_TTL_SECONDS: '120',
        TOKEN_SERVICE: 'registry.sys.example.com',
        UAA_LOGIN_CLIENT_ID: 'droplet_registry_login',
        UAA_LOGIN_CLIENT_SECRET: 'login-s3cret',
        AUTH_DECISION_TTL_MS: '5000',
        ADMIN_SCOPE: 'droplet_registry.admin',
        LOGIN_FAILURES_LIMIT: '10',
        LOGIN_FAILURES_WINDOW_MS: '300000',
      },
    });
    assert.equal(config.token.ttlSeconds, 120);
    assert.equal(config.token.service, 'registry.sys.example.com');
    assert.deepEqual([config.uaa.loginClientId, config.uaa.loginClientSecret], ['droplet_registry_login', 'login-s3cret']);
    assert.deepEqual([config.authDecisionTtlMs, config.adminScope, config.loginFailures], [5000, 'droplet_registry.admin', { limit: 10, windowMs: 300_000 }]);
    for (const ttl of ['301', '59', 'soon']) assert.throws(() => loadConfig({ env: { ...env, TOKEN_TTL_SECONDS: ttl } }), /token\.ttlSeconds \(TOKEN_TTL_SECONDS\)/, ttl);
    assert.deepEqual(loadConfig({ env: {}, file: configFile({ token: { signingKeys: ['/a.pem'] } }) }).token.signingKeys, ['/a.pem']);
  });

  it('names what the s3 and webdav blobstores still need', () => {
    assert.throws(() => loadConfig({ env: { BLOBSTORE: 's3' } }), /the s3 blobstore needs blobstore\.s3\.bucket \(S3_BUCKET\)/);
    assert.throws(() => loadConfig({ env: { BLOBSTORE: 's3', S3_BUCKET: 'b', S3_ACCESS_KEY_ID: 'id' } }), /both or neither of S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY/);
    assert.equal(loadConfig({ env: { BLOBSTORE: 's3', S3_BUCKET: 'b' } }).blobstore.s3.region, 'us-east-1');
    assert.throws(() => loadConfig({ env: { BLOBSTORE: 'webdav' } }), /WEBDAV_PUBLIC_ENDPOINT.*WEBDAV_PASSWORD.*WEBDAV_SECRET/);
    const webdav = loadConfig({ env: { BLOBSTORE: 'webdav', WEBDAV_PUBLIC_ENDPOINT: 'https://blobstore.sys.example.com', WEBDAV_PASSWORD: 'p', WEBDAV_SECRET: 's' } });
    assert.equal(webdav.blobstore.webdav.privateEndpoint, 'https://blobstore.service.cf.internal:4443');
  });

  it('refuses unknown keys and unreadable files', () => {
    assert.throws(() => loadConfig({ env: {}, file: configFile({ prot: 1 }) }), /prot/);
    assert.throws(() => loadConfig({ env: {}, file: configFile('{not json') }), /cannot read config file/);
    assert.throws(() => loadConfig({ env: {}, file: '/nonexistent/config.json' }), /cannot read config file/);
  });
});

describe('README configuration table', () => {
  it('documents every environment variable of the schema', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const envNames = configEnvironmentVariables();
    assert.ok(envNames.includes('DATABASE_URL'));
    const missing = envNames.filter((name) => !readme.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });
});
