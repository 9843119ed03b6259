/**
 * Loads and validates the configuration: defaults, then `--config file.json`, then the
 * environment (env wins, so an operator can override one key of a rendered file).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import convict from 'convict';
import { configSchema, customFormats, type ConfigValues } from './schema.ts';

/**
 * The validated configuration: the schema's values (`ConfigValues`, so every key of the schema is
 * here with the type its format accepts), with `source` and `auth` resolved from `auto` and the
 * paths made absolute (`blobstore.fsRoot` and `dropletsDir` filled in from `dataDir`).
 */
export type Config = Omit<ConfigValues, 'source' | 'auth'> & {
  /** `auto` resolved: capi when `capi.url` is set, else directory. */
  source: Exclude<ConfigValues['source'], 'auto'>;
  /** `auto` resolved: uaa with the capi source, none with the directory source. */
  auth: Exclude<ConfigValues['auth'], 'auto'>;
};

/** A configuration problem, worded for the operator (it names the key to fix). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

convict.addFormats(customFormats);

/** Builds the configuration from an optional JSON file and an environment (process.env by default). */
export function loadConfig(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): Config {
  const env = options.env ?? process.env;
  const config = convict<ConfigValues>(configSchema, { env, args: [] });
  if (options.file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.file, 'utf8'));
    } catch (error) {
      throw new ConfigError(`cannot read config file ${options.file}: ${(error as Error).message}`);
    }
    // convict keeps environment variables above file values, so an operator can override one key.
    config.load(parsed as object);
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (error) {
    throw new ConfigError(`invalid configuration: ${withEnvNames((error as Error).message)}`);
  }
  const values = config.getProperties();
  const source = values.source === 'auto' ? (values.capi.url ? 'capi' : 'directory') : values.source;
  const auth = values.auth === 'auto' ? (source === 'capi' ? 'uaa' : 'none') : values.auth;
  checkDatabaseUrl(values.database.url);
  checkSourceSettings({ ...values, source, auth });
  checkAuthSettings({ ...values, source, auth });
  checkBlobstoreSettings(values.blobstore);
  checkListenerSettings(values);
  checkStackFoundations(values);
  checkTimerBounds(values);
  const dataDir = resolve(values.dataDir);
  return {
    ...values,
    source,
    auth,
    dataDir,
    blobstore: { ...values.blobstore, fsRoot: resolve(dataDir, values.blobstore.fsRoot || 'blobstore') },
    dropletsDir: resolve(dataDir, values.dropletsDir || 'droplets'),
    stacks: Object.fromEntries(Object.entries(values.stacks).map(([stack, path]) => [stack, resolve(path)])),
    stackFoundations: Object.fromEntries(Object.entries(values.stackFoundations).map(([stack, path]) => [stack, resolve(path)])),
    lifecycleTarball: values.lifecycleTarball ? resolve(values.lifecycleTarball) : '',
    token: { ...values.token, signingKeys: values.token.signingKeys.map((file) => resolve(file)) },
  };
}

/** Longest delay a Node.js timer takes; a longer one fires after 1 ms, turning an interval into a busy loop. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Every `…Ms` setting is a timer's delay somewhere: none may exceed what a timer can wait. */
function checkTimerBounds(values: object, prefix = ''): void {
  for (const [name, value] of Object.entries(values)) {
    const key = `${prefix}${name}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) checkTimerBounds(value, `${key}.`);
    else if (name.endsWith('Ms') && typeof value === 'number' && value > MAX_TIMER_MS) {
      throw new ConfigError(`invalid configuration: ${withEnvNames(`${key}: ${value} is more than ${MAX_TIMER_MS} ms (about 24.8 days), the longest a timer can wait; choose a shorter one`)}`);
    }
  }
}

/** A foundation's customized rootfs is compared with its stack's tarball: the stack must be configured, and the two files must differ. */
function checkStackFoundations(config: Pick<Config, 'stacks' | 'stackFoundations'>): void {
  for (const [name, path] of Object.entries(config.stackFoundations)) {
    const stack = config.stacks[name];
    if (stack === undefined) {
      throw new ConfigError(`invalid configuration: stackFoundations (STACK_FOUNDATIONS) names stack ${name}, which has no tarball in stacks (STACKS): add ${name} there or remove it here`);
    }
    if (resolve(stack) === resolve(path)) {
      throw new ConfigError(`invalid configuration: the customized rootfs of stack ${name} (STACK_FOUNDATIONS) is its stack tarball (STACKS) itself; name the set-up job's rootfs.tar, or leave the stack out of STACK_FOUNDATIONS`);
    }
  }
}

/** The listeners: HTTPS needs its certificate and key, timeouts in order, two listeners on two ports. */
function checkListenerSettings(config: Pick<Config, 'port' | 'tls' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'metrics'>): void {
  if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) throw new ConfigError('invalid configuration: HTTPS needs both tls.cert (TLS_CERT) and tls.key (TLS_KEY), or neither for plain HTTP');
  if (config.requestTimeoutMs < config.headersTimeoutMs) {
    throw new ConfigError(
      `invalid configuration: requestTimeoutMs (REQUEST_TIMEOUT_MS) ${config.requestTimeoutMs} is less than headersTimeoutMs (HEADERS_TIMEOUT_MS) ${config.headersTimeoutMs}: a request's time includes its headers'; make it at least as long`,
    );
  }
  if (config.metrics.port !== 0 && config.metrics.port === config.port) {
    throw new ConfigError(`invalid configuration: metrics.port (METRICS_PORT) ${config.metrics.port} is also the registry's port; choose another, or 0 to serve /metrics on the registry's port`);
  }
}

/**
 * A PostgreSQL URL, or empty for the embedded database. Checked here, not first by pg (whose
 * "Invalid URL" a retrying caller such as the BOSH job's pre-start would take for a database not up
 * yet); the message never shows the URL, which holds the password.
 */
function checkDatabaseUrl(url: string): void {
  if (url === '') return;
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new ConfigError(
      'invalid configuration: database.url (DATABASE_URL): must be a postgres:// or postgresql:// URL, e.g. postgres://user:password@host:5432/database (user and password URL-encoded, an IPv6 address in brackets, the port after the host), or empty for the embedded database (the value is not shown: it holds the password)',
    );
  }
}

/** Settings that are only wrong together. */
function checkSourceSettings(config: Pick<Config, 'source' | 'capi' | 'uaa' | 'auth' | 'authNoneForce'>): void {
  if (config.source !== 'capi') return;
  if (!config.capi.url) throw new ConfigError('invalid configuration: source capi needs capi.url (CAPI_URL)');
  if (!config.uaa.clientId) throw new ConfigError("invalid configuration: the capi source needs the registry's UAA client in uaa.clientId (UAA_CLIENT_ID)");
  if (!config.uaa.clientSecret) throw new ConfigError("invalid configuration: the capi source needs the registry's UAA client secret in uaa.clientSecret (UAA_CLIENT_SECRET)");
  if (config.auth === 'none' && !config.authNoneForce) {
    throw new ConfigError(
      'invalid configuration: auth (AUTH) none with the capi source would let anyone who reaches the registry pull every app; set authNoneForce (AUTH_NONE_FORCE=true) to accept that',
    );
  }
}

/** User authentication needs Cloud Controller (it decides who may pull) and the registry's own signing key. */
function checkAuthSettings(config: Pick<Config, 'source' | 'auth' | 'token' | 'uaa'>): void {
  if (config.auth !== 'uaa') return;
  if (config.source !== 'capi') {
    throw new ConfigError('invalid configuration: auth (AUTH) uaa needs the capi source (CAPI_URL): Cloud Controller decides who may pull which app');
  }
  if (!config.uaa.loginClientId) throw new ConfigError('invalid configuration: auth (AUTH) uaa needs the UAA client `docker login` passwords go through in uaa.loginClientId (UAA_LOGIN_CLIENT_ID), e.g. cf');
  if (config.token.signingKeys.length === 0) {
    throw new ConfigError(
      "invalid configuration: auth (AUTH) uaa needs the registry's token signing key in token.signingKeys (TOKEN_SIGNING_KEYS): PEM files of EC P-256 private keys, e.g. made with `openssl ecparam -name prime256v1 -genkey -noout -out registry-token-key.pem`",
    );
  }
}

function checkBlobstoreSettings(blobstore: Config['blobstore']): void {
  const missing =
    blobstore.type === 's3'
      ? [
          !blobstore.s3.bucket && 'blobstore.s3.bucket (S3_BUCKET)',
          !blobstore.s3.region && 'blobstore.s3.region (S3_REGION)',
          Boolean(blobstore.s3.accessKeyId) !== Boolean(blobstore.s3.secretAccessKey) &&
            'both or neither of blobstore.s3.accessKeyId (S3_ACCESS_KEY_ID) and blobstore.s3.secretAccessKey (S3_SECRET_ACCESS_KEY)',
        ]
      : blobstore.type === 'webdav'
        ? [
            !blobstore.webdav.privateEndpoint && 'blobstore.webdav.privateEndpoint (WEBDAV_PRIVATE_ENDPOINT)',
            !blobstore.webdav.publicEndpoint && 'blobstore.webdav.publicEndpoint (WEBDAV_PUBLIC_ENDPOINT)',
            !blobstore.webdav.username && 'blobstore.webdav.username (WEBDAV_USERNAME)',
            !blobstore.webdav.password && 'blobstore.webdav.password (WEBDAV_PASSWORD)',
            !blobstore.webdav.secret && 'blobstore.webdav.secret (WEBDAV_SECRET)',
          ]
        : blobstore.type === 'azure'
          ? [
              !blobstore.azure.accountName && 'blobstore.azure.accountName (AZURE_ACCOUNT_NAME)',
              !blobstore.azure.container && 'blobstore.azure.container (AZURE_CONTAINER)',
              Boolean(blobstore.azure.accountKey) === Boolean(blobstore.azure.sasToken) &&
                'one of blobstore.azure.accountKey (AZURE_ACCOUNT_KEY) and blobstore.azure.sasToken (AZURE_SAS_TOKEN), not both',
            ]
          : [];
  const problems = missing.filter(Boolean);
  if (problems.length > 0) throw new ConfigError(`invalid configuration: the ${blobstore.type} blobstore needs ${problems.join(', ')}`);
  const { endpoint } = blobstore.azure;
  // Clients are redirected there with SAS URLs: over plain HTTP anyone on the way could read and replay them.
  if (blobstore.type === 'azure' && endpoint.startsWith('http://') && !['localhost', '127.0.0.1', '[::1]'].includes(new URL(endpoint).hostname)) {
    throw new ConfigError(`invalid configuration: blobstore.azure.endpoint (AZURE_ENDPOINT) ${endpoint} is plain HTTP; use https (plain HTTP only for an emulator on this machine)`);
  }
}

/** Adds the env var to each "key: problem" line convict reports, so either spelling can be fixed. */
function withEnvNames(message: string): string {
  return message
    .split('\n')
    .map((line) => {
      const key = /^([\w.]+): /.exec(line)?.[1];
      const env = key ? envNameOf(key) : undefined;
      return env ? line.replace(`${key}: `, `${key} (${env}): `) : line;
    })
    .join('\n');
}

function envNameOf(key: string): string | undefined {
  let node: unknown = configSchema;
  for (const part of key.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return (node as { env?: string } | undefined)?.env;
}

/** Every environment variable the configuration reads (for tools that must not leak them, and docs). */
export function configEnvironmentVariables(): string[] {
  const names: string[] = [];
  const walk = (node: Record<string, unknown>): void => {
    for (const value of Object.values(node)) {
      const entry = value as { env?: string; default?: unknown };
      if ('default' in entry) {
        if (entry.env) names.push(entry.env);
      } else {
        walk(value as Record<string, unknown>);
      }
    }
  };
  walk(configSchema as unknown as Record<string, unknown>);
  return names;
}
