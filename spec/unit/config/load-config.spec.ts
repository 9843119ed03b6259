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

  it('reads which customized rootfs goes with which stack (STACK_FOUNDATIONS), in either form', () => {
    const fromEnv = loadConfig({ env: { STACKS: 'cflinuxfs4=/p/cflinuxfs4.tar.gz', STACK_FOUNDATIONS: 'cflinuxfs4=/p/rootfs.tar' } });
    assert.deepEqual(fromEnv.stackFoundations, { cflinuxfs4: '/p/rootfs.tar' });
    const fromFile = loadConfig({ file: configFile({ stacks: { cflinuxfs4: '/p/c.tgz' }, stackFoundations: { cflinuxfs4: '/p/rootfs.tar' } }), env: {} });
    assert.deepEqual(fromFile.stackFoundations, { cflinuxfs4: '/p/rootfs.tar' });
    assert.deepEqual(loadConfig({ env: {} }).stackFoundations, {}, 'none by default: images carry the stack as is');
    for (const [value, message] of [
      ['cflinuxfs4', /stackFoundations \(STACK_FOUNDATIONS\): "cflinuxfs4" is not of the form <stack>=<path>/],
      ['cflinuxfs4=/a.tar,cflinuxfs4=/b.tar', /stackFoundations \(STACK_FOUNDATIONS\): stack cflinuxfs4 is given twice/],
      ['cf linuxfs4=/a.tar', /stackFoundations \(STACK_FOUNDATIONS\): "cf linuxfs4" is not a valid stack name/],
      [Array.from({ length: 65 }, (_, index) => `s${index}=/a.tar`).join(','), /stackFoundations \(STACK_FOUNDATIONS\): names 65 stacks; at most 64/],
    ] as const) {
      assert.throws(() => loadConfig({ env: { STACK_FOUNDATIONS: value } }), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    }
  });

  it('refuses intervals and timeouts longer than a timer can wait, which would fire at once instead', () => {
    assert.throws(
      () => loadConfig({ env: { GC_INTERVAL_MS: String(30 * 24 * 3600 * 1000) } }),
      (error: unknown) => error instanceof ConfigError && /gc\.intervalMs \(GC_INTERVAL_MS\): 2592000000 is more than 2147483647 ms/.test(error.message),
    );
    assert.equal(loadConfig({ env: { GC_INTERVAL_MS: String(2 ** 31 - 1) } }).gc.intervalMs, 2 ** 31 - 1);
  });

  it('refuses a customized rootfs for a stack without a tarball, or one that is the tarball itself', () => {
    assert.throws(
      () => loadConfig({ env: { STACKS: 'cflinuxfs4=/p/c.tgz', STACK_FOUNDATIONS: 'cflinuxfs3=/p/rootfs.tar' } }),
      (error: unknown) => error instanceof ConfigError && /STACK_FOUNDATIONS\) names stack cflinuxfs3, which has no tarball in stacks \(STACKS\)/.test(error.message),
    );
    assert.throws(
      () => loadConfig({ env: { STACKS: 'cflinuxfs4=/p/c.tgz', STACK_FOUNDATIONS: 'cflinuxfs4=/p/../p/c.tgz' } }),
      (error: unknown) => error instanceof ConfigError && /is its stack tarball \(STACKS\) itself/.test(error.message),
    );
    assert.deepEqual(loadConfig({ env: { STACKS: 'cflinuxfs4=c.tgz', STACK_FOUNDATIONS: 'cflinuxfs4=rootfs.tar' } }).stackFoundations, { cflinuxfs4: resolve('rootfs.tar') }, 'relative paths resolved like STACKS');
  });

  it('stops on invalid values with a message naming the key and its variable', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ PORT: 'abc' }, /port \(PORT\)/],
      [{ STACKS: 'cflinuxfs4' }, /stacks \(STACKS\): "cflinuxfs4" is not of the form <stack>=<path/],
      [{ COMPRESSION_LEVEL: '12' }, /conversion\.compressionLevel \(COMPRESSION_LEVEL\): must be an integer from 1 to 9/],
      [{ LOG_LEVEL: 'loud' }, /logLevel \(LOG_LEVEL\)/],
      [{ DATABASE_SCHEMA: 'Robert"; drop' }, /database\.schema \(DATABASE_SCHEMA\)/],
      [{ PUBLIC_URL: 'registry.example.com' }, /publicUrl \(PUBLIC_URL\)/],
      [{ PUBLIC_URL: 'https://registry.example.com@evil.example' }, /publicUrl \(PUBLIC_URL\).*without a path, user info/],
      [{ S3_PREFIX: '../other' }, /blobstore\.s3\.prefix \(S3_PREFIX\): must be path segments/],
      [{ AZURE_PREFIX: 'x/../../other' }, /blobstore\.azure\.prefix \(AZURE_PREFIX\): must be path segments/],
      [{ AZURE_SAS_EXPIRY_SECONDS: '315360000' }, /blobstore\.azure\.sasExpirySeconds \(AZURE_SAS_EXPIRY_SECONDS\): must be a whole number of seconds from 1 to 604800/],
      [{ BLOBSTORE: 'azure', AZURE_ACCOUNT_NAME: 'acct', AZURE_CONTAINER: 'layers', AZURE_ACCOUNT_KEY: 'a2V5', AZURE_ENDPOINT: 'http://acct.blob.core.windows.net' }, /AZURE_ENDPOINT\) http:\/\/acct\.blob\.core\.windows\.net is plain HTTP/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig({ env }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  it('takes a postgres:// or postgresql:// DATABASE_URL, and refuses any other without showing it', () => {
    assert.equal(loadConfig({ env: { DATABASE_URL: 'postgresql://u:p@db.example.com:6432/x?sslmode=verify-full' } }).database.url, 'postgresql://u:p@db.example.com:6432/x?sslmode=verify-full');
    assert.equal(loadConfig({ env: { DATABASE_URL: 'postgres://u@[fd00::5]:5432/x' } }).database.url, 'postgres://u@[fd00::5]:5432/x');
    for (const url of [
      // A host with its port where an IPv6 address goes: no URL parser takes it (pg failed later, "Invalid URL", and was retried).
      'postgres://registry:TOP-SECRET@[sql-db.example.com:5432]:5432/registry',
      'postgres://registry:TOP-SECRET@db:port/registry',
      'mysql://registry:TOP-SECRET@db/registry',
      'registry:TOP-SECRET@db/registry',
    ]) {
      assert.throws(
        () => loadConfig({ env: { DATABASE_URL: url } }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.match(error.message, /^invalid configuration: database\.url \(DATABASE_URL\): must be a postgres:\/\/ or postgresql:\/\/ URL, e\.g\. postgres:\/\/user:password@host:5432\/database/);
          assert.doesNotMatch(error.message, /TOP-SECRET/);
          return true;
        },
        url,
      );
    }
    const fromFile = configFile({ database: { url: 'postgres://registry:TOP-SECRET@[sql-db.example.com:5432]:5432/registry' } });
    assert.throws(() => loadConfig({ file: fromFile, env: {} }), /database\.url \(DATABASE_URL\): must be a postgres:\/\//);
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
    for (const keys of [{ S3_ACCESS_KEY_ID: 'id' }, { S3_SECRET_ACCESS_KEY: 'secret' }]) {
      assert.throws(
        () => loadConfig({ env: { BLOBSTORE: 's3', S3_BUCKET: 'b', ...keys } }),
        /the s3 blobstore needs both or neither of blobstore\.s3\.accessKeyId \(S3_ACCESS_KEY_ID\) and blobstore\.s3\.secretAccessKey \(S3_SECRET_ACCESS_KEY\)/,
      );
    }
    assert.throws(() => loadConfig({ env: { BLOBSTORE: 's3', S3_BUCKET: 'b', S3_REGION: '' } }), /the s3 blobstore needs blobstore\.s3\.region \(S3_REGION\)/);
    assert.equal(loadConfig({ env: { BLOBSTORE: 's3', S3_BUCKET: 'b' } }).blobstore.s3.region, 'us-east-1');
    assert.equal(loadConfig({ env: { BLOBSTORE: 'fs', S3_REGION: '' } }).blobstore.type, 'fs', 'the s3 settings matter only with s3');
    assert.throws(() => loadConfig({ env: { BLOBSTORE: 'webdav' } }), /WEBDAV_PUBLIC_ENDPOINT.*WEBDAV_PASSWORD.*WEBDAV_SECRET/);
    const webdavEnv = { BLOBSTORE: 'webdav', WEBDAV_PUBLIC_ENDPOINT: 'https://blobstore.sys.example.com', WEBDAV_PASSWORD: 'p', WEBDAV_SECRET: 's' };
    const webdav = loadConfig({ env: webdavEnv });
    assert.equal(webdav.blobstore.webdav.privateEndpoint, 'https://blobstore.service.cf.internal:4443');
    assert.throws(() => loadConfig({ env: { ...webdavEnv, WEBDAV_PASSWORD: '' } }), /the webdav blobstore needs blobstore\.webdav\.password \(WEBDAV_PASSWORD\)$/);
    assert.throws(() => loadConfig({ env: { ...webdavEnv, WEBDAV_SECRET: '' } }), /the webdav blobstore needs blobstore\.webdav\.secret \(WEBDAV_SECRET\)$/);
    assert.throws(() => loadConfig({ env: { ...webdavEnv, WEBDAV_USERNAME: '' } }), /the webdav blobstore needs blobstore\.webdav\.username \(WEBDAV_USERNAME\)$/);
    assert.throws(() => loadConfig({ env: { ...webdavEnv, WEBDAV_PRIVATE_ENDPOINT: '' } }), /the webdav blobstore needs blobstore\.webdav\.privateEndpoint \(WEBDAV_PRIVATE_ENDPOINT\)$/);
    for (const key of ['cc-droplets', 'a/b', '']) {
      assert.throws(() => loadConfig({ env: { ...webdavEnv, WEBDAV_DIRECTORY_KEY: key } }), /blobstore\.webdav\.directoryKey \(WEBDAV_DIRECTORY_KEY\): must be one directory name .*not one of Cloud Controller's \(cc-droplets/, key);
    }
  });

  it('names what the azure blobstore still needs, and refuses names and keys Azure would', () => {
    assert.throws(
      () => loadConfig({ env: { BLOBSTORE: 'azure' } }),
      /the azure blobstore needs blobstore\.azure\.accountName \(AZURE_ACCOUNT_NAME\), blobstore\.azure\.container \(AZURE_CONTAINER\), one of blobstore\.azure\.accountKey \(AZURE_ACCOUNT_KEY\) and blobstore\.azure\.sasToken \(AZURE_SAS_TOKEN\), not both$/,
    );
    const azureEnv = { BLOBSTORE: 'azure', AZURE_ACCOUNT_NAME: 'cfblobs', AZURE_CONTAINER: 'droplet-registry', AZURE_ACCOUNT_KEY: 'a2V5LWJ5dGVz' };
    const azure = loadConfig({ env: azureEnv }).blobstore.azure;
    assert.deepEqual([azure.accountName, azure.container, azure.endpoint, azure.sasExpirySeconds], ['cfblobs', 'droplet-registry', '', 1200]);
    const sas = 'sv=2025-01-05&sr=c&sp=racwdl&se=2027-01-01T00%3A00%3A00Z&sig=abc%2Bdef%3D';
    assert.equal(loadConfig({ env: { ...azureEnv, AZURE_ACCOUNT_KEY: '', AZURE_SAS_TOKEN: `?${sas}` } }).blobstore.azure.sasToken, `?${sas}`);
    assert.throws(() => loadConfig({ env: { ...azureEnv, AZURE_SAS_TOKEN: sas } }), /needs one of blobstore\.azure\.accountKey \(AZURE_ACCOUNT_KEY\) and blobstore\.azure\.sasToken \(AZURE_SAS_TOKEN\), not both$/);
    assert.equal(loadConfig({ env: { BLOBSTORE: 'fs', AZURE_CONTAINER: '' } }).blobstore.type, 'fs', 'the azure settings matter only with azure');
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ AZURE_ACCOUNT_NAME: 'CF_Blobs' }, /blobstore\.azure\.accountName \(AZURE_ACCOUNT_NAME\): must be a storage account name/],
      [{ AZURE_CONTAINER: 'Droplets' }, /blobstore\.azure\.container \(AZURE_CONTAINER\): must be a container name/],
      [{ AZURE_CONTAINER: 'a--b' }, /blobstore\.azure\.container \(AZURE_CONTAINER\): must be a container name/],
      [{ AZURE_ACCOUNT_KEY: 'not a key' }, /blobstore\.azure\.accountKey \(AZURE_ACCOUNT_KEY\): must be a base64 access key/],
      [{ AZURE_ACCOUNT_KEY: '', AZURE_SAS_TOKEN: 'https://cfblobs.blob.core.windows.net/c?sv=1' }, /blobstore\.azure\.sasToken \(AZURE_SAS_TOKEN\): must be a SAS token/],
      [{ AZURE_ENDPOINT: 'cfblobs.blob.core.windows.net' }, /blobstore\.azure\.endpoint \(AZURE_ENDPOINT\): must be an http\(s\) URL/],
      [{ AZURE_SAS_EXPIRY_SECONDS: '0' }, /blobstore\.azure\.sasExpirySeconds \(AZURE_SAS_EXPIRY_SECONDS\): must be a whole number of seconds from 1 to 604800/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig({ env: { ...azureEnv, ...env } }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
  });

  it('serves HTTPS only with both the certificate and its key', () => {
    assert.deepEqual(loadConfig({ env: { TLS_CERT: '/tls/cert.pem', TLS_KEY: '/tls/key.pem' } }).tls, { cert: '/tls/cert.pem', key: '/tls/key.pem' });
    for (const env of [{ TLS_CERT: '/tls/cert.pem' }, { TLS_KEY: '/tls/key.pem' }]) {
      assert.throws(() => loadConfig({ env }), (error: unknown) => error instanceof ConfigError && /HTTPS needs both tls\.cert \(TLS_CERT\) and tls\.key \(TLS_KEY\), or neither/.test(error.message), JSON.stringify(env));
    }
  });

  it('refuses a request timeout shorter than the headers timeout', () => {
    assert.equal(loadConfig({ env: { HEADERS_TIMEOUT_MS: '20000', REQUEST_TIMEOUT_MS: '20000' } }).requestTimeoutMs, 20_000);
    assert.throws(
      () => loadConfig({ env: { HEADERS_TIMEOUT_MS: '30000', REQUEST_TIMEOUT_MS: '10000' } }),
      (error: unknown) => error instanceof ConfigError && /requestTimeoutMs \(REQUEST_TIMEOUT_MS\) 10000 is less than headersTimeoutMs \(HEADERS_TIMEOUT_MS\) 30000/.test(error.message),
    );
  });

  it('refuses the metrics listener on the registry\'s own port', () => {
    assert.equal(loadConfig({ env: { PORT: '9090', METRICS_PORT: '0' } }).metrics.port, 0);
    assert.throws(
      () => loadConfig({ env: { PORT: '9090', METRICS_PORT: '9090' } }),
      (error: unknown) => error instanceof ConfigError && /metrics\.port \(METRICS_PORT\) 9090 is also the registry's port; choose another, or 0/.test(error.message),
    );
  });

  it('names the UAA clients the capi source and user authentication need', () => {
    const capi = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret', TOKEN_SIGNING_KEYS: '/k.pem' };
    assert.throws(() => loadConfig({ env: { ...capi, UAA_CLIENT_ID: '' } }), /the capi source needs the registry's UAA client in uaa\.clientId \(UAA_CLIENT_ID\)/);
    assert.throws(() => loadConfig({ env: { ...capi, UAA_LOGIN_CLIENT_ID: '' } }), /auth \(AUTH\) uaa needs .* uaa\.loginClientId \(UAA_LOGIN_CLIENT_ID\)/);
    assert.equal(loadConfig({ env: { ...capi, UAA_LOGIN_CLIENT_ID: '', AUTH: 'none', AUTH_NONE_FORCE: 'true' } }).uaa.loginClientId, '', 'no login client without user authentication');
  });

  it('migrates the database on open unless told not to', () => {
    assert.equal(loadConfig({ env: {} }).database.migrate, true);
    assert.equal(loadConfig({ env: { DATABASE_MIGRATE: 'false' } }).database.migrate, false);
    assert.equal(loadConfig({ env: {}, file: configFile({ database: { migrate: false } }) }).database.migrate, false);
    assert.throws(() => loadConfig({ env: { DATABASE_MIGRATE: 'no' } }), /database\.migrate \(DATABASE_MIGRATE\): must be true or false/);
  });

  it('reads booleans strictly: true or false, never a typo taken for true', () => {
    assert.equal(loadConfig({ env: { PREWARM_ENABLED: 'FALSE' } }).prewarm.enabled, false);
    assert.equal(loadConfig({ env: { PREWARM_ENABLED: ' true ' } }).prewarm.enabled, true);
    for (const value of ['flase', 'yes', '0', '']) {
      assert.throws(() => loadConfig({ env: { AUTH_NONE_FORCE: value } }), /authNoneForce \(AUTH_NONE_FORCE\): must be true or false/, JSON.stringify(value));
    }
    assert.throws(() => loadConfig({ env: {}, file: configFile({ prewarm: { enabled: 'no' } }) }), /prewarm\.enabled \(PREWARM_ENABLED\): must be true or false/);
  });

  it('bounds what the services behind the registry accept, and what makes no sense at 0', () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ CAPI_PAGE_SIZE: '5001' }, /capi\.pageSize \(CAPI_PAGE_SIZE\): must be a whole number from 1 to 5000/],
      [{ CAPI_PAGE_SIZE: '0' }, /capi\.pageSize \(CAPI_PAGE_SIZE\)/],
      [{ S3_PRESIGN_EXPIRY_SECONDS: '604801' }, /blobstore\.s3\.presignExpirySeconds \(S3_PRESIGN_EXPIRY_SECONDS\): must be a whole number of seconds from 1 to 604800/],
      [{ WEBDAV_LINK_EXPIRY_SECONDS: '0' }, /blobstore\.webdav\.linkExpirySeconds \(WEBDAV_LINK_EXPIRY_SECONDS\): must be a whole number of at least 1/],
      [{ DATABASE_POOL_MAX: '0' }, /database\.poolMax \(DATABASE_POOL_MAX\)/],
      [{ CAPI_TIMEOUT_MS: '0' }, /capi\.timeoutMs \(CAPI_TIMEOUT_MS\)/],
      [{ DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS: '0' }, /capi\.downloadIdleTimeoutMs \(DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS\)/],
      [{ PREWARM_INTERVAL_MS: '0' }, /prewarm\.intervalMs \(PREWARM_INTERVAL_MS\)/],
      [{ LOGIN_FAILURES_WINDOW_MS: '0' }, /loginFailures\.windowMs \(LOGIN_FAILURES_WINDOW_MS\)/],
      [{ CONVERSION_MAX_UNCOMPRESSED_BYTES: '0' }, /conversion\.maxUncompressedBytes \(CONVERSION_MAX_UNCOMPRESSED_BYTES\)/],
      [{ CONVERSION_MAX_ENTRIES: '0' }, /conversion\.maxEntries \(CONVERSION_MAX_ENTRIES\)/],
      [{ HOST: '0.0.0.0 ' }, /host \(HOST\): must be an IP address or host name/],
      [{ HOST: '' }, /host \(HOST\): must be an IP address or host name/],
      [{ METRICS_HOST: 'a b' }, /metrics\.host \(METRICS_HOST\): must be an IP address or host name, or empty/],
      [{ TOKEN_SERVICE: 'a b' }, /token\.service \(TOKEN_SERVICE\): must not contain spaces/],
      [{ ADMIN_SCOPE: 'a b' }, /adminScope \(ADMIN_SCOPE\): must be one UAA scope/],
      [{ ADMIN_SCOPE: '' }, /adminScope \(ADMIN_SCOPE\): must be one UAA scope/],
      [{ DEFAULT_STACK: '' }, /defaultStack \(DEFAULT_STACK\): must be a stack name/],
    ];
    for (const [env, message] of cases) {
      assert.throws(() => loadConfig({ env }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(env));
    }
    const accepted = loadConfig({ env: { HOST: '::1', METRICS_HOST: 'fe80::1%eth0', CAPI_PAGE_SIZE: '5000', S3_PRESIGN_EXPIRY_SECONDS: '604800', PUBLIC_URL: 'https://registry.example.com/' } });
    assert.deepEqual([accepted.host, accepted.metrics.host, accepted.capi.pageSize, accepted.blobstore.s3.presignExpirySeconds], ['::1', 'fe80::1%eth0', 5000, 604_800]);
  });

  it('refuses unknown keys and unreadable files', () => {
    assert.throws(() => loadConfig({ env: {}, file: configFile({ prot: 1 }) }), /prot/);
    assert.throws(() => loadConfig({ env: {}, file: configFile('{not json') }), /cannot read config file/);
    assert.throws(() => loadConfig({ env: {}, file: '/nonexistent/config.json' }), /cannot read config file/);
  });
});

describe('configuration reference (docs/configuration.md)', () => {
  it('documents every environment variable of the schema', () => {
    const reference = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const envNames = configEnvironmentVariables();
    assert.ok(envNames.includes('DATABASE_URL'));
    const missing = envNames.filter((name) => !reference.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });
});
