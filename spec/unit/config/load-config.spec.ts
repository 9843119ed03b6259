import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/load-config.ts';
import { configSchema } from '../../../src/config/schema.ts';

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
    const capi = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret', AUTH_NONE_FORCE: 'true' };
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
    const env = { CAPI_URL: 'https://api.sys.example.com', UAA_CLIENT_SECRET: 's3cret' };
    assert.throws(() => loadConfig({ env }), /AUTH_NONE_FORCE=true/);
    assert.equal(loadConfig({ env: { ...env, AUTH_NONE_FORCE: 'true' } }).authNoneForce, true);
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
    const envNames: string[] = [];
    const walk = (node: Record<string, unknown>): void => {
      for (const value of Object.values(node)) {
        const entry = value as { env?: string; default?: unknown };
        if ('default' in entry) envNames.push(entry.env as string);
        else walk(value as Record<string, unknown>);
      }
    };
    walk(configSchema as unknown as Record<string, unknown>);
    const missing = envNames.filter((name) => !readme.includes(`| \`${name}\` |`));
    assert.deepEqual(missing, []);
  });
});
