/**
 * The one configuration schema. Every key has a doc, a format, a default and an environment
 * variable; the env names are a contract with the BOSH job, the tests and operators (DESIGN.md).
 * A `--config file.json` has the same (nested) keys.
 */
import { parseStacks } from './stacks-format.ts';

/** Formats of our own, registered with convict by `loadConfig`. */
export const customFormats = {
  'optional-url': {
    validate(value: unknown): void {
      if (value === '') return;
      let url: URL;
      try {
        url = new URL(String(value));
      } catch {
        throw new Error('must be an http(s) URL');
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('must be an http(s) URL');
    },
  },
  stacks: {
    validate(value: unknown): void {
      parseStacks(value);
    },
    // Leave a malformed value as is: `validate` then reports it under the key's name.
    coerce: (value: unknown): unknown => {
      try {
        return parseStacks(value);
      } catch {
        return value;
      }
    },
  },
  'gzip-level': {
    validate(value: unknown): void {
      if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > 9) throw new Error('must be an integer from 1 to 9');
    },
    coerce: (value: unknown): unknown => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
  },
};

export const configSchema = {
  port: {
    doc: 'TCP port the registry listens on.',
    format: 'port',
    default: 5000,
    env: 'PORT',
  },
  host: {
    doc: 'Address the registry binds to (0.0.0.0 for all interfaces).',
    format: String,
    default: '127.0.0.1',
    env: 'HOST',
  },
  publicUrl: {
    doc: 'URL clients use to reach the registry (e.g. https://registry.sys.example.com); empty: taken from each request.',
    format: (value: unknown): void => {
      if (value !== '' && !/^https?:\/\/[^/]+\/?$/.test(String(value))) {
        throw new Error('must be an http(s) URL without a path, e.g. https://registry.example.com');
      }
    },
    default: '',
    env: 'PUBLIC_URL',
  },
  dataDir: {
    doc: 'Directory for local state: the embedded database, the filesystem blobstore and droplets when not set otherwise.',
    format: String,
    default: './data',
    env: 'DATA_DIR',
  },
  logLevel: {
    doc: 'Log level.',
    format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
    default: 'info',
    env: 'LOG_LEVEL',
  },
  database: {
    url: {
      doc: 'PostgreSQL connection URL (postgres://user:pass@host:5432/db); empty: embedded PGlite under DATA_DIR.',
      format: String,
      default: '',
      env: 'DATABASE_URL',
      sensitive: true,
    },
    schema: {
      doc: 'PostgreSQL schema holding the registry tables.',
      format: (value: unknown): void => {
        if (!/^[a-z_][a-z0-9_]{0,62}$/.test(String(value))) throw new Error('must be a lower-case SQL identifier');
      },
      default: 'droplet_registry',
      env: 'DATABASE_SCHEMA',
    },
    poolMax: {
      doc: 'Maximum connections in the PostgreSQL pool.',
      format: 'nat',
      default: 10,
      env: 'DATABASE_POOL_MAX',
    },
  },
  blobstore: {
    type: {
      doc: 'Where layers and configs are stored: fs (a directory).',
      format: ['fs'],
      default: 'fs',
      env: 'BLOBSTORE',
    },
    fsRoot: {
      doc: 'Directory of the filesystem blobstore; empty: DATA_DIR/blobstore.',
      format: String,
      default: '',
      env: 'BLOBSTORE_FS_ROOT',
    },
  },
  source: {
    doc: 'Where droplets come from: capi (Cloud Controller at CAPI_URL) or directory (DROPLETS_DIR); auto: capi when CAPI_URL is set.',
    format: ['auto', 'capi', 'directory'],
    default: 'auto',
    env: 'SOURCE',
  },
  capi: {
    url: {
      doc: "Cloud Controller's URL, e.g. https://api.sys.example.com or https://cloud-controller-ng.service.cf.internal:9024.",
      format: 'optional-url',
      default: '',
      env: 'CAPI_URL',
    },
    caCert: {
      doc: "PEM file of the CA that signed Cloud Controller's certificate (besides the system store).",
      format: String,
      default: '',
      env: 'CAPI_CA_CERT',
    },
    timeoutMs: {
      doc: 'Timeout of each Cloud Controller and UAA call, in milliseconds.',
      format: 'nat',
      default: 10_000,
      env: 'CAPI_TIMEOUT_MS',
    },
    pageSize: {
      doc: "Results per page of Cloud Controller lists (5000 is CAPI's maximum).",
      format: 'nat',
      default: 5000,
      env: 'CAPI_PAGE_SIZE',
    },
    blobstoreCaCert: {
      doc: 'PEM file of the CA of the blobstore that droplet downloads redirect to (besides the system store).',
      format: String,
      default: '',
      env: 'DROPLET_BLOBSTORE_CA_CERT',
    },
    downloadIdleTimeoutMs: {
      doc: 'A droplet download that sends nothing for this long (milliseconds) is abandoned.',
      format: 'nat',
      default: 60_000,
      env: 'DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS',
    },
  },
  uaa: {
    url: {
      doc: "UAA's URL; empty: the `uaa` link of Cloud Controller's root document.",
      format: 'optional-url',
      default: '',
      env: 'UAA_URL',
    },
    caCert: {
      doc: "PEM file of the CA that signed UAA's certificate (besides the system store).",
      format: String,
      default: '',
      env: 'UAA_CA_CERT',
    },
    clientId: {
      doc: "The registry's UAA client (client_credentials grant, authority cloud_controller.admin_read_only).",
      format: String,
      default: 'droplet_registry',
      env: 'UAA_CLIENT_ID',
    },
    clientSecret: {
      doc: "Secret of the registry's UAA client; required with the capi source.",
      format: String,
      default: '',
      env: 'UAA_CLIENT_SECRET',
      sensitive: true,
    },
  },
  prewarm: {
    enabled: {
      doc: 'Convert newly staged droplets before their first pull (capi source), following Cloud Controller audit events.',
      format: Boolean,
      default: true,
      env: 'PREWARM_ENABLED',
    },
    intervalMs: {
      doc: 'How often the pre-warmer asks Cloud Controller for new audit events, in milliseconds.',
      format: 'nat',
      default: 15_000,
      env: 'PREWARM_INTERVAL_MS',
    },
    concurrency: {
      doc: 'Conversions the pre-warmer runs at once.',
      format: 'nat',
      default: 2,
      env: 'PREWARM_CONCURRENCY',
    },
    initialApps: {
      doc: 'On its first start, the pre-warmer converts the current droplets of this many most recently updated apps.',
      format: 'nat',
      default: 50,
      env: 'PREWARM_INITIAL_APPS',
    },
  },
  auth: {
    doc: 'Who may pull: none (anyone who reaches the registry). Refused with the capi source unless AUTH_NONE_FORCE is set.',
    format: ['none'],
    default: 'none',
    env: 'AUTH',
  },
  authNoneForce: {
    doc: 'Allow AUTH=none with the capi source: every app of the foundation becomes pullable by anyone who reaches the registry.',
    format: Boolean,
    default: false,
    env: 'AUTH_NONE_FORCE',
  },
  dropletsDir: {
    doc: 'Directory source: droplets at <dir>/<org>/<space>/<app>/<droplet-guid>.tgz; empty: DATA_DIR/droplets.',
    format: String,
    default: '',
    env: 'DROPLETS_DIR',
  },
  stacks: {
    doc: 'Rootfs tarball of each stack: "cflinuxfs4=/path/cflinuxfs4.tar.gz,…" (an object in a config file).',
    format: 'stacks',
    default: {} as Record<string, string>,
    env: 'STACKS',
  },
  defaultStack: {
    doc: 'Stack assumed for droplets that do not name one (directory source).',
    format: String,
    default: 'cflinuxfs4',
    env: 'DEFAULT_STACK',
  },
  lifecycleTarball: {
    doc: 'A buildpack_app_lifecycle tarball to use as the launcher layer; empty: the built-in launcher.',
    format: String,
    default: '',
    env: 'LIFECYCLE_TARBALL',
  },
  conversion: {
    compressionLevel: {
      doc: 'gzip level (1-9) of converted droplet layers.',
      format: 'gzip-level',
      default: 1,
      env: 'COMPRESSION_LEVEL',
    },
    maxUncompressedBytes: {
      doc: 'A droplet that unpacks to more bytes than this fails its conversion (decompression bombs).',
      format: 'nat',
      default: 8 * 1024 ** 3,
      env: 'CONVERSION_MAX_UNCOMPRESSED_BYTES',
    },
    maxEntries: {
      doc: 'A droplet with more tar entries than this fails its conversion.',
      format: 'nat',
      default: 500_000,
      env: 'CONVERSION_MAX_ENTRIES',
    },
  },
};
