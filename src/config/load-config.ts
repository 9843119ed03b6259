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
  publicUrl: string;
  dataDir: string;
  logLevel: string;
  database: { url: string; schema: string; poolMax: number };
  blobstore: { type: 'fs'; fsRoot: string };
  source: 'capi' | 'directory';
  capi: { url: string; caCert: string; timeoutMs: number; pageSize: number; blobstoreCaCert: string; downloadIdleTimeoutMs: number };
  uaa: { url: string; caCert: string; clientId: string; clientSecret: string };
  prewarm: { enabled: boolean; intervalMs: number; concurrency: number; initialApps: number };
  auth: 'none';
  authNoneForce: boolean;
  dropletsDir: string;
  stacks: StackRootfsMap;
  defaultStack: string;
  lifecycleTarball: string;
  conversion: { compressionLevel: number; maxUncompressedBytes: number; maxEntries: number };
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
  const values = config.getProperties() as unknown as Omit<Config, 'source'> & { source: 'auto' | Config['source'] };
  const source = values.source === 'auto' ? (values.capi.url ? 'capi' : 'directory') : values.source;
  checkSourceSettings({ ...values, source });
  const dataDir = resolve(values.dataDir);
  return {
    ...values,
    source,
    dataDir,
    blobstore: { ...values.blobstore, fsRoot: resolve(dataDir, values.blobstore.fsRoot || 'blobstore') },
    dropletsDir: resolve(dataDir, values.dropletsDir || 'droplets'),
    stacks: Object.fromEntries(Object.entries(values.stacks).map(([stack, path]) => [stack, resolve(path)])),
    lifecycleTarball: values.lifecycleTarball ? resolve(values.lifecycleTarball) : '',
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
