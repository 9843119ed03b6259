/**
 * Loads and validates the configuration: defaults, then `--config file.json`, then the
 * environment (env wins, so an operator can override one key of a rendered file).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import convict from 'convict';
import { configSchema, customFormats } from './schema.ts';
import type { StackRootfsMap } from './stacks-format.ts';

/** The validated configuration with derived paths filled in. */
export interface Config {
  port: number;
  host: string;
  /** Both set: the listener serves HTTPS. */
  tls: { cert: string; key: string };
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  responseStallTimeoutMs: number;
  blobStreamsPerClient: number;
  trustedProxyHops: number;
  shutdownTimeoutMs: number;
  publicUrl: string;
  dataDir: string;
  logLevel: string;
  database: { url: string; schema: string; poolMax: number; caCert: string };
  blobstore: {
    type: 'fs' | 's3' | 'webdav';
    fsRoot: string;
    writeProbeIntervalMs: number;
    checkBeforeRedirect: boolean;
    s3: {
      bucket: string;
      region: string;
      endpoint: string;
      forcePathStyle: boolean;
      accessKeyId: string;
      secretAccessKey: string;
      publicEndpoint: string;
      presignExpirySeconds: number;
      prefix: string;
    };
    webdav: {
      privateEndpoint: string;
      publicEndpoint: string;
      username: string;
      password: string;
      secret: string;
      directoryKey: string;
      caCert: string;
      linkExpirySeconds: number;
    };
  };
  source: 'capi' | 'directory';
  capi: { url: string; caCert: string; timeoutMs: number; pageSize: number; maxPages: number; blobstoreCaCert: string; downloadIdleTimeoutMs: number };
  uaa: { url: string; caCert: string; clientId: string; clientSecret: string; loginClientId: string; loginClientSecret: string };
  prewarm: { enabled: boolean; intervalMs: number; concurrency: number; initialApps: number };
  gc: { intervalMs: number; imageRetentionDays: number; blobGraceMs: number };
  /** `auto` resolved: uaa with the capi source, none with the directory source. */
  auth: 'uaa' | 'none';
  authNoneForce: boolean;
  token: { signingKeys: string[]; ttlSeconds: number; service: string; maxRepositories: number; requestsPerClient: number };
  authUpstreamConcurrency: number;
  authDecisionTtlMs: number;
  authAllowGlobalAuditors: boolean;
  adminScope: string;
  loginFailures: { limit: number; windowMs: number };
  /** `port` 0: /metrics on the main port; else a listener of its own on host:port (host empty: HOST). */
  metrics: { port: number; host: string };
  dropletsDir: string;
  stacks: StackRootfsMap;
  defaultStack: string;
  lifecycleTarball: string;
  conversion: {
    compressionLevel: number;
    maxUncompressedBytes: number;
    maxEntries: number;
    concurrency: number;
    queue: number;
    perApp: number;
    leaseMs: number;
    manifestWaitMs: number;
  };
}

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
  const config = convict(configSchema, { env, args: [] });
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
  const values = config.getProperties() as unknown as Omit<Config, 'source' | 'auth'> & { source: 'auto' | Config['source']; auth: 'auto' | Config['auth'] };
  const source = values.source === 'auto' ? (values.capi.url ? 'capi' : 'directory') : values.source;
  const auth = values.auth === 'auto' ? (source === 'capi' ? 'uaa' : 'none') : values.auth;
  checkSourceSettings({ ...values, source, auth });
  checkAuthSettings({ ...values, source, auth });
  checkBlobstoreSettings(values.blobstore);
  if (values.metrics.port !== 0 && values.metrics.port === values.port) {
    throw new ConfigError(`invalid configuration: metrics.port (METRICS_PORT) ${values.metrics.port} is also the registry's port; choose another, or 0 to serve /metrics on the registry's port`);
  }
  if (Boolean(values.tls.cert) !== Boolean(values.tls.key)) throw new ConfigError('invalid configuration: HTTPS needs both tls.cert (TLS_CERT) and tls.key (TLS_KEY), or neither for plain HTTP');
  const dataDir = resolve(values.dataDir);
  return {
    ...values,
    source,
    auth,
    dataDir,
    blobstore: { ...values.blobstore, fsRoot: resolve(dataDir, values.blobstore.fsRoot || 'blobstore') },
    dropletsDir: resolve(dataDir, values.dropletsDir || 'droplets'),
    stacks: Object.fromEntries(Object.entries(values.stacks).map(([stack, path]) => [stack, resolve(path)])),
    lifecycleTarball: values.lifecycleTarball ? resolve(values.lifecycleTarball) : '',
    token: { ...values.token, signingKeys: values.token.signingKeys.map((file) => resolve(file)) },
  };
}

/** Settings that are only wrong together. */
function checkSourceSettings(config: Pick<Config, 'source' | 'capi' | 'uaa' | 'auth' | 'authNoneForce'>): void {
  if (config.source !== 'capi') return;
  if (!config.capi.url) throw new ConfigError('invalid configuration: source capi needs capi.url (CAPI_URL)');
  if (!config.uaa.clientSecret) throw new ConfigError("invalid configuration: the capi source needs the registry's UAA client secret in uaa.clientSecret (UAA_CLIENT_SECRET)");
  if (config.auth === 'none' && !config.authNoneForce) {
    throw new ConfigError(
      'invalid configuration: auth (AUTH) none with the capi source would let anyone who reaches the registry pull every app; set authNoneForce (AUTH_NONE_FORCE=true) to accept that',
    );
  }
}

/** User authentication needs Cloud Controller (it decides who may pull) and the registry's own signing key. */
function checkAuthSettings(config: Pick<Config, 'source' | 'auth' | 'token'>): void {
  if (config.auth !== 'uaa') return;
  if (config.source !== 'capi') {
    throw new ConfigError('invalid configuration: auth (AUTH) uaa needs the capi source (CAPI_URL): Cloud Controller decides who may pull which app');
  }
  if (config.token.signingKeys.length === 0) {
    throw new ConfigError(
      "invalid configuration: auth (AUTH) uaa needs the registry's token signing key in token.signingKeys (TOKEN_SIGNING_KEYS): PEM files of EC P-256 private keys, e.g. made with `openssl ecparam -name prime256v1 -genkey -noout -out registry-token-key.pem`",
    );
  }
}

function checkBlobstoreSettings(blobstore: Config['blobstore']): void {
  const missing =
    blobstore.type === 's3'
      ? [!blobstore.s3.bucket && 'blobstore.s3.bucket (S3_BUCKET)', Boolean(blobstore.s3.accessKeyId) !== Boolean(blobstore.s3.secretAccessKey) && 'both or neither of S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY']
      : blobstore.type === 'webdav'
        ? [
            !blobstore.webdav.publicEndpoint && 'blobstore.webdav.publicEndpoint (WEBDAV_PUBLIC_ENDPOINT)',
            !blobstore.webdav.password && 'blobstore.webdav.password (WEBDAV_PASSWORD)',
            !blobstore.webdav.secret && 'blobstore.webdav.secret (WEBDAV_SECRET)',
          ]
        : [];
  const problems = missing.filter(Boolean);
  if (problems.length > 0) throw new ConfigError(`invalid configuration: the ${blobstore.type} blobstore needs ${problems.join(', ')}`);
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
