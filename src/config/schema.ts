/**
 * The one configuration schema. Every key has a doc, a format, a default and an environment
 * variable; the env names are a contract with the BOSH job, the tests and operators (DESIGN.md).
 * A `--config file.json` has the same (nested) keys. The type of the configuration is derived from
 * it (`ConfigValues`): a key added here is a key of `Config`, with the type its format validates.
 */
import { parseStacks, STACK_NAME, type StackRootfsMap } from './stacks-format.ts';

/** A format of our own: `validate` throws the problem (convict puts the key before it). */
interface Format<T> {
  validate(value: unknown): asserts value is T;
  coerce?(value: unknown): unknown;
}

/** Whole numbers from `min` to `max`; strings of digits (environment variables) become numbers. */
function wholeNumbers(min: number, max: number, problem: string): Format<number> {
  return {
    validate(value: unknown): asserts value is number {
      if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) throw new Error(problem);
    },
    coerce: (value: unknown): unknown => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value),
  };
}

/** Text that `accepts` takes. */
function text(problem: string, accepts: (value: string) => boolean): Format<string> {
  return {
    validate(value: unknown): asserts value is string {
      if (typeof value !== 'string' || !accepts(value)) throw new Error(problem);
    },
  };
}

/** Text matching `pattern`. */
function matching(pattern: RegExp, problem: string): Format<string> {
  return text(problem, (value) => pattern.test(value));
}

function httpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/** Cloud Controller's own directories in its WebDAV blobstore. */
const CC_DIRECTORY_KEYS = ['cc-droplets', 'cc-packages', 'cc-buildpacks', 'cc-resources'];

/** Formats of our own, registered with convict by `loadConfig`. */
export const customFormats = {
  // Strict, unlike convict's Boolean (which takes any string but "false" as true: AUTH_NONE_FORCE=flase would force).
  boolean: {
    validate(value: unknown): asserts value is boolean {
      if (typeof value !== 'boolean') throw new Error('must be true or false');
    },
    coerce: (value: unknown): unknown => (typeof value === 'string' && /^\s*(true|false)\s*$/i.test(value) ? value.trim().toLowerCase() === 'true' : value),
  },
  'positive-int': wholeNumbers(1, Number.MAX_SAFE_INTEGER, 'must be a whole number of at least 1'),
  'optional-url': text('must be an http(s) URL', (value) => value === '' || httpUrl(value)),
  // No user info, query or fragment: `https://registry.example.com@evil.example` would send logins to evil.example.
  'public-url': matching(/^(|https?:\/\/[^/\s@?#]+\/?)$/, 'must be an http(s) URL of a host (and port), without a path, user info, query or fragment, e.g. https://registry.example.com'),
  'listen-address': matching(/^[A-Za-z0-9.:%_-]+$/, 'must be an IP address or host name'),
  'optional-listen-address': matching(/^[A-Za-z0-9.:%_-]*$/, 'must be an IP address or host name, or empty'),
  'sql-identifier': matching(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier'),
  'uaa-scope': matching(/^\S+$/, 'must be one UAA scope, e.g. cloud_controller.admin'),
  'no-spaces': matching(/^\S*$/, 'must not contain spaces'),
  'stack-name': matching(STACK_NAME, 'must be a stack name such as cflinuxfs4'),
  'directory-key': text(
    `must be one directory name (letters, digits, . _ -), not one of Cloud Controller's (${CC_DIRECTORY_KEYS.join(', ')})`,
    (value) => /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(value) && !CC_DIRECTORY_KEYS.includes(value),
  ),
  stacks: {
    validate(value: unknown): asserts value is StackRootfsMap {
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
  'file-list': {
    validate(value: unknown): asserts value is string[] {
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string' && item !== '')) throw new Error('must be a comma-separated list of file paths');
    },
    coerce: (value: unknown): unknown =>
      typeof value === 'string'
        ? value
            .split(',')
            .map((item) => item.trim())
            .filter(Boolean)
        : value,
  },
  // Docker wants at least 60 s (shorter answers are raised to 60); short lives keep a leaked token's use short.
  'token-ttl': wholeNumbers(60, 300, 'must be a whole number of seconds from 60 to 300'),
  // Below this, blobs could be deleted while in-process caches and pulls under way still lead to them.
  'gc-grace-ms': wholeNumbers(300_000, Number.MAX_SAFE_INTEGER, 'must be a whole number of milliseconds of at least 300000 (5 minutes)'),
  'gzip-level': wholeNumbers(1, 9, 'must be an integer from 1 to 9'),
  // Cloud Controller answers 400 to a per_page above 5000.
  'capi-page-size': wholeNumbers(1, 5000, "must be a whole number from 1 to 5000 (Cloud Controller's maximum)"),
  // SigV4 presigned URLs live a week at most.
  'presign-expiry': wholeNumbers(1, 604_800, 'must be a whole number of seconds from 1 to 604800 (a week, the most SigV4 allows)'),
  // A redirect SAS has no stored access policy, so it is revoked only by rotating the account key: a week at most.
  'sas-expiry': wholeNumbers(1, 604_800, 'must be a whole number of seconds from 1 to 604800 (a week)'),
  // Segments of letters, digits, `.`, `_`, `-`, none `.` or `..` (which would climb out of the bucket or container).
  'key-prefix': matching(/^(|[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)*\/?)$/, 'must be path segments of letters, digits, . _ - separated by /, none of them . or .., e.g. registry/'),
  // Azure's own naming rules, so a typo is named at start rather than met as a 400 from the service.
  'azure-account-name': matching(/^(|[a-z0-9]{3,24})$/, 'must be a storage account name: 3 to 24 lower-case letters and digits'),
  'azure-container': matching(/^(|[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9])$/, 'must be a container name: 3 to 63 lower-case letters, digits and single hyphens, starting and ending with a letter or digit'),
  'azure-account-key': matching(/^(|[A-Za-z0-9+/]+={0,2})$/, 'must be a base64 access key of the storage account (`az storage account keys list`)'),
  'azure-sas-token': matching(/^(|\??[^\s?]*\bsig=[^\s]+)$/, 'must be a SAS token (sv=…&sig=…), e.g. from `az storage container generate-sas`'),
} satisfies Record<string, Format<unknown>>;

/** Formats built into convict that the schema uses, and the values they accept. */
interface ConvictFormatValues {
  port: number;
  nat: number;
}

/** Every format name the schema may use. */
export type FormatName = keyof typeof customFormats | keyof ConvictFormatValues;

/** One setting. */
export interface SchemaEntry {
  readonly doc: string;
  /** A format name, the allowed values, or `String` (any text). */
  readonly format: FormatName | readonly string[] | StringConstructor;
  readonly default: unknown;
  readonly env: string;
  readonly sensitive?: boolean;
}

/** A group of settings (a nested key). */
interface SchemaGroup {
  readonly [key: string]: SchemaEntry | SchemaGroup;
}

/** The value a format accepts. */
type FormatValue<F> = F extends readonly (infer Allowed)[]
  ? Allowed
  : F extends StringConstructor
    ? string
    : F extends keyof ConvictFormatValues
      ? ConvictFormatValues[F]
      : F extends keyof typeof customFormats
        ? (typeof customFormats)[F] extends Format<infer T>
          ? T
          : never
        : never;

/** The values a schema (group) describes, as convict returns them. */
export type SchemaValues<S> = {
  -readonly [K in keyof S]: S[K] extends SchemaEntry ? FormatValue<S[K]['format']> : SchemaValues<S[K]>;
};

/** The validated configuration as convict returns it, before `loadConfig` resolves and fills in values. */
export type ConfigValues = SchemaValues<typeof configSchema>;

export const configSchema = {
  port: {
    doc: 'TCP port the registry listens on.',
    format: 'port',
    default: 5000,
    env: 'PORT',
  },
  host: {
    doc: 'Address the registry binds to (0.0.0.0 for all interfaces).',
    format: 'listen-address',
    default: '127.0.0.1',
    env: 'HOST',
  },
  tls: {
    cert: {
      doc: 'PEM file of the certificate (with its chain) the registry serves HTTPS with; set with TLS_KEY, the listener speaks HTTPS only.',
      format: String,
      default: '',
      env: 'TLS_CERT',
    },
    key: {
      doc: 'PEM file of the private key of TLS_CERT.',
      format: String,
      default: '',
      env: 'TLS_KEY',
    },
  },
  headersTimeoutMs: {
    doc: 'A client that has not sent its request headers this long after starting a request is disconnected (408), so slow clients cannot hold connections (milliseconds).',
    format: 'positive-int',
    default: 30_000,
    env: 'HEADERS_TIMEOUT_MS',
  },
  requestTimeoutMs: {
    doc: 'A client that has not sent its whole request (headers and body) this long after starting it is disconnected (408); at least HEADERS_TIMEOUT_MS (milliseconds).',
    format: 'positive-int',
    default: 60_000,
    env: 'REQUEST_TIMEOUT_MS',
  },
  responseStallTimeoutMs: {
    doc: 'A response the client has taken nothing of this long (not one write of up to 1 MiB) is dropped and its connection closed, so clients that never read cannot hold connections and buffers (milliseconds).',
    format: 'positive-int',
    default: 60_000,
    env: 'RESPONSE_STALL_TIMEOUT_MS',
  },
  blobStreamsPerClient: {
    doc: 'Blobs streamed to one client address at once (redirects and HEAD are not counted); past it the registry answers 429 TOOMANYREQUESTS with Retry-After.',
    format: 'positive-int',
    default: 16,
    env: 'BLOB_STREAMS_PER_CLIENT',
  },
  trustedProxyHops: {
    doc: 'Proxies in front of the registry that each append the address they saw to X-Forwarded-For (gorouter: 1; a load balancer adding X-Forwarded-For before it: 2). The client address (login throttling, BLOB_STREAMS_PER_CLIENT) is the one the outermost of them saw; 0: the socket peer, X-Forwarded-For ignored.',
    format: 'nat',
    default: 0,
    env: 'TRUSTED_PROXY_HOPS',
  },
  shutdownTimeoutMs: {
    doc: 'On SIGTERM, how long requests and conversions under way may take to finish (milliseconds); conversions still running then are cancelled and handed to another instance.',
    format: 'nat',
    default: 60_000,
    env: 'SHUTDOWN_TIMEOUT_MS',
  },
  publicUrl: {
    doc: 'URL clients use to reach the registry (e.g. https://registry.sys.example.com); empty: taken from each request.',
    format: 'public-url',
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
      format: 'sql-identifier',
      default: 'droplet_registry',
      env: 'DATABASE_SCHEMA',
    },
    poolMax: {
      doc: 'Maximum connections in the PostgreSQL pool.',
      format: 'positive-int',
      default: 10,
      env: 'DATABASE_POOL_MAX',
    },
    caCert: {
      doc: "PEM file of the CA that signed PostgreSQL's certificate; set: TLS verified against it (besides the system store; an sslmode in DATABASE_URL is honoured).",
      format: String,
      default: '',
      env: 'DATABASE_CA_CERT',
    },
    migrate: {
      doc: 'Apply pending database migrations when a command opens the database (serve, gc, import-rootfs). The BOSH job sets it to false: its pre-start runs `droplet-registry migrate`.',
      format: 'boolean',
      default: true,
      env: 'DATABASE_MIGRATE',
    },
  },
  blobstore: {
    type: {
      doc: "Where layers and configs are stored: fs (a directory), s3 (S3 or compatible, Google Cloud Storage through its XML API), webdav (Cloud Foundry's internal blobstore), azure (Azure Blob Storage).",
      format: ['fs', 's3', 'webdav', 'azure'],
      default: 'fs',
      env: 'BLOBSTORE',
    },
    s3: {
      bucket: { doc: 'S3 bucket holding the blobs (required with s3).', format: String, default: '', env: 'S3_BUCKET' },
      region: { doc: 'S3 region.', format: String, default: 'us-east-1', env: 'S3_REGION' },
      endpoint: { doc: 'URL of an S3-compatible store (MinIO, Ceph, …); empty: AWS.', format: 'optional-url', default: '', env: 'S3_ENDPOINT' },
      forcePathStyle: { doc: 'Path-style addressing (bucket in the path), as most S3-compatible stores need.', format: 'boolean', default: false, env: 'S3_FORCE_PATH_STYLE' },
      accessKeyId: { doc: "Access key id; empty with an empty secret: the AWS SDK's default chain (environment, instance profile).", format: String, default: '', env: 'S3_ACCESS_KEY_ID' },
      secretAccessKey: { doc: 'Secret access key.', format: String, default: '', env: 'S3_SECRET_ACCESS_KEY', sensitive: true },
      publicEndpoint: {
        doc: 'Origin put in presigned redirect URLs instead of the endpoint; must not be a subdomain of the registry host (clients would send it their registry token).',
        format: 'optional-url',
        default: '',
        env: 'S3_PUBLIC_ENDPOINT',
      },
      presignExpirySeconds: { doc: 'Lifetime of presigned redirect URLs, in seconds.', format: 'presign-expiry', default: 1200, env: 'S3_PRESIGN_EXPIRY_SECONDS' },
      prefix: { doc: 'Key prefix, to share a bucket.', format: 'key-prefix', default: '', env: 'S3_PREFIX' },
    },
    webdav: {
      privateEndpoint: {
        doc: "The blobstore's internal server (writes through /admin/).",
        format: 'optional-url',
        default: 'https://blobstore.service.cf.internal:4443',
        env: 'WEBDAV_PRIVATE_ENDPOINT',
      },
      publicEndpoint: { doc: 'Where clients fetch signed links, https://blobstore.<system domain> (required with webdav).', format: 'optional-url', default: '', env: 'WEBDAV_PUBLIC_ENDPOINT' },
      username: { doc: "One of the blobstore job's admin users.", format: String, default: 'blobstore-user', env: 'WEBDAV_USERNAME' },
      password: { doc: "That admin user's password (required with webdav).", format: String, default: '', env: 'WEBDAV_PASSWORD', sensitive: true },
      secret: { doc: "The blobstore's secure_link secret (blobstore.secure_link.secret; required with webdav).", format: String, default: '', env: 'WEBDAV_SECRET', sensitive: true },
      directoryKey: { doc: "The registry's top-level directory in the blobstore, beside Cloud Controller's.", format: 'directory-key', default: 'droplet-registry', env: 'WEBDAV_DIRECTORY_KEY' },
      caCert: { doc: "PEM file of the CA of the blobstore's internal certificate (besides the system store).", format: String, default: '', env: 'WEBDAV_CA_CERT' },
      linkExpirySeconds: { doc: 'Lifetime of signed redirect links, in seconds.', format: 'positive-int', default: 1200, env: 'WEBDAV_LINK_EXPIRY_SECONDS' },
    },
    azure: {
      accountName: { doc: 'Storage account name (required with azure).', format: 'azure-account-name', default: '', env: 'AZURE_ACCOUNT_NAME' },
      accountKey: {
        doc: "The storage account's access key (Shared Key): redirects go to read-only SAS URLs for one blob that it signs. Give it or AZURE_SAS_TOKEN.",
        format: 'azure-account-key',
        default: '',
        env: 'AZURE_ACCOUNT_KEY',
        sensitive: true,
      },
      sasToken: {
        doc: 'Instead of the key, a SAS token for the container allowing racwdl (read, add, create, write, delete, list). It cannot sign narrower URLs, so the registry then streams blob bytes itself instead of redirecting.',
        format: 'azure-sas-token',
        default: '',
        env: 'AZURE_SAS_TOKEN',
        sensitive: true,
      },
      container: { doc: "The registry's own container, which must exist (required with azure).", format: 'azure-container', default: '', env: 'AZURE_CONTAINER' },
      prefix: { doc: 'Blob name prefix, to share a container.', format: 'key-prefix', default: '', env: 'AZURE_PREFIX' },
      endpoint: {
        doc: "The account's blob endpoint; empty: https://<account>.blob.core.windows.net. Sovereign clouds: blob.core.chinacloudapi.cn, blob.core.usgovcloudapi.net; Azurite: http://127.0.0.1:10000/<account>. Clients are redirected to it.",
        format: 'optional-url',
        default: '',
        env: 'AZURE_ENDPOINT',
      },
      sasExpirySeconds: { doc: 'Lifetime of the SAS URLs clients are redirected to, in seconds.', format: 'sas-expiry', default: 1200, env: 'AZURE_SAS_EXPIRY_SECONDS' },
    },
    fsRoot: {
      doc: 'Directory of the filesystem blobstore; empty: DATA_DIR/blobstore.',
      format: String,
      default: '',
      env: 'BLOBSTORE_FS_ROOT',
    },
    writeProbeIntervalMs: {
      doc: '/readyz writes a few bytes to the blobstore (under staging/, deleted at once) at most this often (milliseconds); while the store refuses writes the instance is not ready.',
      format: 'positive-int',
      default: 30_000,
      env: 'BLOBSTORE_WRITE_PROBE_INTERVAL_MS',
    },
    checkBeforeRedirect: {
      doc: "With s3, webdav or azure: ask the store whether it has a blob before redirecting a client to it (one HEAD per blob GET), so that a blob lost from the store answers BLOB_UNKNOWN and its images are converted again, instead of the client meeting the store's 404.",
      format: 'boolean',
      default: false,
      env: 'BLOBSTORE_CHECK_BEFORE_REDIRECT',
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
      doc: 'Time each Cloud Controller and UAA call may take, its whole answer included, and the blobstore a droplet download is redirected to may take to begin answering, in milliseconds.',
      format: 'positive-int',
      default: 10_000,
      env: 'CAPI_TIMEOUT_MS',
    },
    pageSize: {
      doc: "Results per page of Cloud Controller lists (5000 is CAPI's maximum).",
      format: 'capi-page-size',
      default: 5000,
      env: 'CAPI_PAGE_SIZE',
    },
    maxPages: {
      doc: 'Pages (of CAPI_PAGE_SIZE results) of one Cloud Controller list read at most: a longer list answers 503, so a Cloud Controller whose pagination never ends cannot hold a request; the pre-warmer reads this many pages of audit events per round and the rest on later rounds.',
      format: 'positive-int',
      default: 10,
      env: 'CAPI_MAX_PAGES',
    },
    blobstoreCaCert: {
      doc: 'PEM file of the CA of the blobstore that droplet downloads redirect to (besides the system store).',
      format: String,
      default: '',
      env: 'DROPLET_BLOBSTORE_CA_CERT',
    },
    downloadIdleTimeoutMs: {
      doc: 'A droplet download that sends nothing for this long (milliseconds) is abandoned.',
      format: 'positive-int',
      default: 60_000,
      env: 'DROPLET_DOWNLOAD_IDLE_TIMEOUT_MS',
    },
    cacheTtlMs: {
      doc: "How long (milliseconds) Cloud Controller's answers are reused by this instance: which app a repository name leads to, an app, its current droplet, a droplet. They are dropped sooner when its audit events say they changed. 0: every pull asks Cloud Controller.",
      format: 'nat',
      default: 60_000,
      env: 'CAPI_CACHE_TTL_MS',
    },
    changeCheckIntervalMs: {
      doc: "Cloud Controller's audit events are read at most this often (milliseconds) by this instance, when a pull uses a reused answer; a change (`cf push`, a rename) shows in pulls within this time.",
      format: 'nat',
      default: 1_000,
      env: 'CAPI_CHANGE_CHECK_INTERVAL_MS',
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
    loginClientId: {
      doc: "UAA client that `docker login` passwords go through (password grant); `cf` is the cf CLI's public client.",
      format: String,
      default: 'cf',
      env: 'UAA_LOGIN_CLIENT_ID',
    },
    loginClientSecret: {
      doc: 'Secret of the login client; empty for a public client such as `cf`.',
      format: String,
      default: '',
      env: 'UAA_LOGIN_CLIENT_SECRET',
      sensitive: true,
    },
    passwordLoginTtlMs: {
      doc: "How long (milliseconds) a username and password UAA accepted are accepted again without asking UAA (only a salted hash is kept, in memory; a failed login for the user forgets it). A changed password keeps working here for up to this long. 0: UAA is asked at every login.",
      format: 'nat',
      default: 60_000,
      env: 'UAA_PASSWORD_LOGIN_TTL_MS',
    },
  },
  prewarm: {
    enabled: {
      doc: 'Convert newly staged droplets before their first pull (capi source), following Cloud Controller audit events.',
      format: 'boolean',
      default: true,
      env: 'PREWARM_ENABLED',
    },
    intervalMs: {
      doc: 'How often the pre-warmer asks Cloud Controller for new audit events, in milliseconds.',
      format: 'positive-int',
      default: 15_000,
      env: 'PREWARM_INTERVAL_MS',
    },
    concurrency: {
      doc: 'Conversions the pre-warmer runs at once (at least 1).',
      format: 'positive-int',
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
  gc: {
    intervalMs: {
      doc: 'How often garbage collection runs in the service (one instance at a time), in milliseconds; 0: never (run `droplet-registry gc` instead).',
      format: 'nat',
      default: 3_600_000,
      env: 'GC_INTERVAL_MS',
    },
    imageRetentionDays: {
      doc: 'Images not pulled for this many days (counted from the last pull, else the conversion), failed conversions and abandoned ones older than that are removed; 0: never for age.',
      format: 'nat',
      default: 30,
      env: 'GC_IMAGE_RETENTION_DAYS',
    },
    blobGraceMs: {
      doc: 'Blobs referenced by no image for this long (milliseconds, at least 5 minutes) are deleted from the blobstore; keep it well above the longest conversion.',
      format: 'gc-grace-ms',
      default: 3_600_000,
      env: 'GC_BLOB_GRACE_MS',
    },
  },
  storage: {
    budgetBytes: {
      doc: "The most bytes the registry's blobs may take in its blobstore: the layers and configs of every image, and the unreferenced blobs waiting out GC_BLOB_GRACE_MS. At or above it, conversions are refused (503, Retry-After) and garbage collection evicts the least recently pulled images, deleting their blobs without the grace period, until usage is under 90 % of it. 0: no budget.",
      format: 'nat',
      default: 0,
      env: 'STORAGE_BUDGET_BYTES',
    },
  },
  auth: {
    doc: 'Who may pull: uaa (Cloud Foundry users, as Cloud Controller lets them download droplets; needs the capi source), none (anyone who reaches the registry; refused with the capi source unless AUTH_NONE_FORCE is set); auto: uaa with the capi source, none with the directory source.',
    format: ['auto', 'uaa', 'none'],
    default: 'auto',
    env: 'AUTH',
  },
  authNoneForce: {
    doc: 'Allow AUTH=none with the capi source: every app of the foundation becomes pullable by anyone who reaches the registry.',
    format: 'boolean',
    default: false,
    env: 'AUTH_NONE_FORCE',
  },
  token: {
    signingKeys: {
      doc: "PEM files of EC P-256 private keys signing the registry's tokens, comma-separated: the first signs, all verify (rotation). Required with AUTH=uaa; instances sharing them accept each other's tokens.",
      format: 'file-list',
      default: [] as string[],
      env: 'TOKEN_SIGNING_KEYS',
    },
    ttlSeconds: {
      doc: 'Lifetime of registry tokens, in seconds (60 to 300).',
      format: 'token-ttl',
      default: 300,
      env: 'TOKEN_TTL_SECONDS',
    },
    service: {
      doc: "The token `service` (audience) of this registry; empty: PUBLIC_URL's host, else each request's Host.",
      format: 'no-spaces',
      default: '',
      env: 'TOKEN_SERVICE',
    },
    maxRepositories: {
      doc: 'Distinct repositories one token request is decided for (its first ones, in order); the rest are not granted and cost no Cloud Controller call. Docker and containerd ask for one per request.',
      format: 'positive-int',
      default: 16,
      env: 'TOKEN_MAX_REPOSITORIES',
    },
    requestsPerClient: {
      doc: 'Token requests one client address may have deciding (or waiting for one of the AUTH_UPSTREAM_CONCURRENCY slots) at once; more answer 429. Keeps one client from crowding the others out.',
      format: 'positive-int',
      default: 4,
      env: 'TOKEN_REQUESTS_PER_CLIENT',
    },
  },
  authUpstreamConcurrency: {
    doc: "Token requests this instance lets ask Cloud Controller about repositories at once (each decides 4 repositories at a time, up to 3 calls each); 16 more per slot wait, beyond that token requests answer 429. Keeps logins from spending the registry's Cloud Controller rate limit.",
    format: 'positive-int',
    default: 8,
    env: 'AUTH_UPSTREAM_CONCURRENCY',
  },
  authDecisionTtlMs: {
    doc: "How long a user's pull permission for an app, as Cloud Controller answered it, is reused (milliseconds).",
    format: 'nat',
    default: 60_000,
    env: 'AUTH_DECISION_TTL_MS',
  },
  upstreamStaleIfErrorMs: {
    doc: "While Cloud Controller or UAA fail or answer 429, answers they gave up to this long (milliseconds) past their reuse time — app and droplet lookups, pull permissions, password logins (never past the user's UAA token) — are served instead of failing pulls, each with a warning in the log. 0: never.",
    format: 'nat',
    default: 300_000,
    env: 'UPSTREAM_STALE_IF_ERROR_MS',
  },
  authAllowGlobalAuditors: {
    doc: "Let global auditors (UAA scope cloud_controller.global_auditor) pull every app, as Cloud Controller lets them download every droplet; false: they pull only apps where they also hold a space developer, manager or auditor or org manager role (needs the capi source).",
    format: 'boolean',
    default: true,
    env: 'AUTH_ALLOW_GLOBAL_AUDITORS',
  },
  adminScope: {
    doc: 'UAA scope a token needs for the /admin endpoints.',
    format: 'uaa-scope',
    default: 'cloud_controller.admin',
    env: 'ADMIN_SCOPE',
  },
  loginFailures: {
    limit: {
      doc: 'Failed logins per username, and per client address, within the window; beyond it logins answer 429 without asking UAA (counted in memory, per instance; 0: no limit).',
      format: 'nat',
      default: 5,
      env: 'LOGIN_FAILURES_LIMIT',
    },
    windowMs: {
      doc: 'The sliding window of LOGIN_FAILURES_LIMIT, in milliseconds.',
      format: 'positive-int',
      default: 60_000,
      env: 'LOGIN_FAILURES_WINDOW_MS',
    },
  },
  metrics: {
    port: {
      doc: 'Port of a listener serving only GET /metrics (Prometheus), not routed by the gorouter; 0: /metrics is served on PORT instead (unauthenticated, public behind a route).',
      format: 'port',
      default: 0,
      env: 'METRICS_PORT',
    },
    host: {
      doc: 'Address the metrics listener binds to (METRICS_PORT set); empty: the same as HOST.',
      format: 'optional-listen-address',
      default: '',
      env: 'METRICS_HOST',
    },
  },
  dropletsDir: {
    doc: 'Directory source: droplets at <dir>/<org>/<space>/<app>/<droplet-guid>.tgz; empty: DATA_DIR/droplets.',
    format: String,
    default: '',
    env: 'DROPLETS_DIR',
  },
  stacks: {
    doc: 'The tarball of each stack: "cflinuxfs4=/var/vcap/packages/cflinuxfs4/cflinuxfs4.tar.gz,…" (an object in a config file). Served byte for byte as the bottom layer of every image of that stack (.tar or .tar.gz), so it has the same digest wherever that stack release runs.',
    format: 'stacks',
    default: {} as StackRootfsMap,
    env: 'STACKS',
  },
  stackFoundations: {
    doc: 'The stack as this foundation customized it, for stacks of STACKS: "cflinuxfs4=/var/vcap/packages/cflinuxfs4/rootfs.tar" (an object in a config file), i.e. the rootfs.tar that cflinuxfs4-rootfs-setup writes with the trusted CAs of the foundation. What it holds that differs from the stack tarball (added or changed files, removals) becomes the foundation layer, above the stack layer, so containers see what Diego\'s see; the same certificates give the same layer on every VM. Empty: images carry the stack as is.',
    format: 'stacks',
    default: {} as StackRootfsMap,
    env: 'STACK_FOUNDATIONS',
  },
  defaultStack: {
    doc: 'Stack assumed for droplets that do not name one (directory source).',
    format: 'stack-name',
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
    dropletLayers: {
      doc: "How a droplet is layered: 'split' gives one layer per buildpack's deps/<i> directory (timestamps normalized, so an unchanged runtime is the same layer across restages and apps, and nodes pull only what changed) and one for the rest; 'single' keeps the whole droplet in one layer. Only new conversions follow a change; converted droplets keep their layers.",
      format: ['split', 'single'],
      default: 'split' as 'split' | 'single',
      env: 'DROPLET_LAYERS',
    },
    maxUncompressedBytes: {
      doc: 'A droplet that unpacks to more bytes than this fails its conversion (decompression bombs).',
      format: 'positive-int',
      default: 8 * 1024 ** 3,
      env: 'CONVERSION_MAX_UNCOMPRESSED_BYTES',
    },
    maxEntries: {
      doc: 'A droplet with more tar entries than this fails its conversion.',
      format: 'positive-int',
      default: 500_000,
      env: 'CONVERSION_MAX_ENTRIES',
    },
    concurrency: {
      doc: 'Conversions this instance runs at once.',
      format: 'positive-int',
      default: 2,
      env: 'CONVERSION_CONCURRENCY',
    },
    queue: {
      doc: 'Conversions waiting for a free slot on this instance; more are refused with 429 TOOMANYREQUESTS.',
      format: 'nat',
      default: 8,
      env: 'CONVERSION_QUEUE',
    },
    perApp: {
      doc: 'Conversions one app may have running or waiting on an instance at once; more answer 429 TOOMANYREQUESTS, so one app cannot take the conversions from the others.',
      format: 'positive-int',
      default: 2,
      env: 'CONVERSION_PER_APP',
    },
    leaseMs: {
      doc: 'How long a conversion stays claimed by its instance without a heartbeat (renewed every third of it); then another instance takes it over.',
      format: 'positive-int',
      default: 30_000,
      env: 'CONVERSION_LEASE_MS',
    },
    manifestWaitMs: {
      doc: 'How long a manifest request waits for a conversion before answering 429 with Retry-After (the conversion goes on; a retry joins it). Under 30 s: containerd gives up then.',
      format: 'positive-int',
      default: 25_000,
      env: 'MANIFEST_WAIT_MS',
    },
  },
} as const satisfies SchemaGroup;
