/**
 * Builds the registry from its configuration: database (migrated), blobstore, droplet source,
 * base layers, image service, HTTP server. Only this file reads the configuration; each module
 * gets its own slice.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Server } from '@hapi/hapi';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { createAuth, type Auth } from './auth/create-auth.ts';
import type { BlobStore } from './blobstore/blob-store.ts';
import { FsBlobStore } from './blobstore/fs-blob-store.ts';
import { S3BlobStore } from './blobstore/s3-blob-store.ts';
import { WebDavBlobStore } from './blobstore/webdav-blob-store.ts';
import type { Config } from './config/load-config.ts';
import { createDatabase } from './db/create-database.ts';
import { migrateDatabase } from './db/migrate-database.ts';
import { prepareBaseLayers, type BaseLayers } from './images/base-layers.ts';
import { ConversionSlots } from './images/conversion-slots.ts';
import { ImageLandings } from './images/image-landings.ts';
import { ImageService } from './images/image-service.ts';
import { parseRepositoryName } from './routes/v2-paths.ts';
import { createServer } from './server/create-server.ts';
import type { CapiClient } from './sources/capi/capi-client.ts';
import { createCapiSource } from './sources/capi/create-capi-source.ts';
import type { UaaUrl } from './sources/capi/uaa-url.ts';
import { DirectorySource } from './sources/directory/directory-source.ts';
import type { DropletSource } from './sources/droplet-source.ts';
import { LeaderElection } from './workers/leader-election.ts';
import { Prewarmer } from './workers/prewarmer.ts';

/**
 * Staged writes older than this were left by a process that died (a conversion's writes take far
 * less); they are swept at start-up and then every `STAGING_SWEEP_INTERVAL_MS`, since with several
 * instances a dead one's leftovers may wait long for a restart.
 */
const STALE_STAGING_MS = 60 * 60 * 1000;
const STAGING_SWEEP_INTERVAL_MS = 15 * 60 * 1000;

export async function openDatabase(config: Config): Promise<Knex> {
  const { url, schema, poolMax, caCert } = config.database;
  const ssl = caCert ? { ca: readFileSync(caCert, 'utf8') } : undefined;
  const db = await createDatabase({ url: url || undefined, schema, dataDir: config.dataDir, poolMax, ssl });
  try {
    await migrateDatabase(db, config.database.schema);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return db;
}

export function openBlobStore(config: Config): BlobStore {
  const { type, fsRoot, s3, webdav } = config.blobstore;
  if (type === 's3') {
    return new S3BlobStore({
      bucket: s3.bucket,
      region: s3.region,
      endpoint: s3.endpoint || undefined,
      forcePathStyle: s3.forcePathStyle,
      accessKeyId: s3.accessKeyId || undefined,
      secretAccessKey: s3.secretAccessKey || undefined,
      publicEndpoint: s3.publicEndpoint || undefined,
      presignExpirySeconds: s3.presignExpirySeconds,
      prefix: s3.prefix || undefined,
    });
  }
  if (type === 'webdav') {
    return new WebDavBlobStore({
      privateEndpoint: webdav.privateEndpoint,
      publicEndpoint: webdav.publicEndpoint,
      username: webdav.username,
      password: webdav.password,
      secret: webdav.secret,
      directoryKey: webdav.directoryKey,
      caCert: webdav.caCert ? readFileSync(webdav.caCert, 'utf8') : undefined,
      linkExpirySeconds: webdav.linkExpirySeconds,
    });
  }
  return new FsBlobStore({ root: fsRoot });
}

/**
 * The droplet source, and with the capi source its client (the pre-warmer reads audit events
 * through it) and UAA's URL (user logins use it).
 */
export function openDropletSource(config: Config, logger: Logger): { source: DropletSource; capi?: CapiClient; uaaUrl?: UaaUrl } {
  if (config.source === 'directory') return { source: new DirectorySource({ root: config.dropletsDir, defaultStack: config.defaultStack }) };
  if (config.auth === 'none') {
    logger.warn({ event: 'auth.none_forced' }, 'AUTH=none with the capi source (AUTH_NONE_FORCE): anyone who reaches this registry can pull every app of the foundation');
  }
  const { source, client, uaaUrl } = createCapiSource(
    {
      capiUrl: config.capi.url,
      capiCaCert: config.capi.caCert,
      uaaUrl: config.uaa.url,
      uaaCaCert: config.uaa.caCert,
      clientId: config.uaa.clientId,
      clientSecret: config.uaa.clientSecret,
      timeoutMs: config.capi.timeoutMs,
      pageSize: config.capi.pageSize,
      blobstoreCaCert: config.capi.blobstoreCaCert,
      downloadIdleTimeoutMs: config.capi.downloadIdleTimeoutMs,
    },
    logger,
  );
  return { source, capi: client, uaaUrl };
}

/** Who may pull (AUTH) and who may use the admin endpoints. */
function openAuth(config: Config, source: DropletSource, uaaUrl: UaaUrl | undefined, logger: Logger): Promise<Auth> {
  const configuredUaa = config.uaa.url;
  return createAuth(
    {
      mode: config.auth,
      origin: { publicUrl: config.publicUrl, service: config.token.service },
      signingKeyFiles: config.token.signingKeys,
      tokenTtlSeconds: config.token.ttlSeconds,
      capiUrl: config.capi.url,
      capiCaCert: config.capi.caCert,
      uaaCaCert: config.uaa.caCert,
      timeoutMs: config.capi.timeoutMs,
      loginClientId: config.uaa.loginClientId,
      loginClientSecret: config.uaa.loginClientSecret,
      decisionTtlMs: config.authDecisionTtlMs,
      adminScope: config.adminScope,
      loginFailuresLimit: config.loginFailures.limit,
      loginFailuresWindowMs: config.loginFailures.windowMs,
    },
    {
      uaaUrl: uaaUrl ?? (configuredUaa ? async () => configuredUaa : undefined),
      source,
      findApp: (name) => {
        const repository = parseRepositoryName(name);
        return 'appGuid' in repository ? source.findAppByGuid(repository.appGuid) : source.findApp(repository.org, repository.space, repository.app);
      },
      logger,
    },
  );
}

export function loadBaseLayers(config: Config, db: Knex, blobs: BlobStore, logger: Logger): Promise<BaseLayers> {
  return prepareBaseLayers({
    db,
    blobs,
    stacks: config.stacks,
    lifecycleTarball: config.lifecycleTarball,
    compressionLevel: config.conversion.compressionLevel,
    onImport: ({ kind, name, path, layer }) =>
      layer
        ? logger.info({ event: 'import.done', kind, name, path, digest: layer.digest, diffId: layer.diffId, size: layer.size }, `imported ${kind} ${name}`)
        : logger.info({ event: 'import.start', kind, name, path }, `importing ${kind} ${name} from ${path}`),
  });
}

export interface Registry {
  readonly server: Server;
  readonly images: ImageService;
  readonly db: Knex;
  /** Converts newly staged droplets ahead of their first pull (capi source, PREWARM_ENABLED); started by `startRegistry`. */
  readonly prewarmer: Prewarmer | undefined;
  /** Stops the pre-warmer and accepting requests, lets conversions under way finish, closes the database. */
  stop(): Promise<void>;
}

/** Builds the registry from its configuration, ready to `server.start()` (or `server.inject`). */
export async function buildRegistry(config: Config, logger: Logger): Promise<Registry> {
  if (Object.keys(config.stacks).length === 0) {
    logger.warn('no stacks configured (STACKS): every droplet will answer MANIFEST_UNKNOWN until a rootfs is configured');
  }
  const db = await openDatabase(config);
  try {
    const blobs = openBlobStore(config);
    await sweepStaging(blobs, logger);
    const baseLayers = await loadBaseLayers(config, db, blobs, logger);
    const { source, capi, uaaUrl } = openDropletSource(config, logger);
    const auth = await openAuth(config, source, uaaUrl, logger);
    const images = new ImageService({
      db,
      blobs,
      source,
      baseLayers,
      compressionLevel: config.conversion.compressionLevel,
      limits: { maxUncompressedBytes: config.conversion.maxUncompressedBytes, maxEntries: config.conversion.maxEntries },
      // The random part tells apart registries of one process (tests) and reused pids (containers).
      instance: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      schema: config.database.schema,
      slots: new ConversionSlots({ concurrency: config.conversion.concurrency, queue: config.conversion.queue }),
      landings: new ImageLandings({ db, schema: config.database.schema, logger }),
      leaseMs: config.conversion.leaseMs,
      manifestWaitMs: config.conversion.manifestWaitMs,
      logger,
    });
    const server = await createServer({ host: config.host, port: config.port, images, auth, logger });
    const prewarmer = capi && config.prewarm.enabled ? createPrewarmer(config, db, capi, images, logger) : undefined;
    const sweeper = setInterval(() => void sweepStaging(blobs, logger).catch((error: unknown) => logger.warn({ err: error }, 'sweeping staged writes failed')), STAGING_SWEEP_INTERVAL_MS);
    sweeper.unref();
    return {
      server,
      images,
      db,
      prewarmer,
      async stop() {
        clearInterval(sweeper);
        await prewarmer?.stop();
        await server.stop({ timeout: 30_000 });
        await images.drain();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

async function sweepStaging(blobs: BlobStore, logger: Logger): Promise<void> {
  const swept = await blobs.sweepStaging(STALE_STAGING_MS);
  if (swept > 0) logger.info({ event: 'staging.swept', count: swept }, `removed ${swept} abandoned staged writes`);
}

function createPrewarmer(config: Config, db: Knex, capi: CapiClient, images: ImageService, logger: Logger): Prewarmer {
  return new Prewarmer({
    db,
    capi,
    capiUrl: config.capi.url,
    images,
    leadership: new LeaderElection({ db, name: `prewarm ${config.database.schema}`, logger }),
    logger,
    intervalMs: config.prewarm.intervalMs,
    concurrency: config.prewarm.concurrency,
    initialApps: config.prewarm.initialApps,
  });
}

/** Builds the registry and returns once it listens (and, with the capi source, pre-warms). */
export async function startRegistry(config: Config, logger: Logger): Promise<Registry> {
  const registry = await buildRegistry(config, logger);
  try {
    await registry.server.start();
  } catch (error) {
    await registry.stop();
    throw error;
  }
  logger.info(
    { event: 'started', url: registry.server.info.uri, droplets: config.dropletsDir, stacks: Object.keys(config.stacks) },
    `droplet-registry listening on ${registry.server.info.uri}`,
  );
  if (registry.prewarmer) registry.prewarmer.start();
  else if (config.source === 'capi') logger.info({ event: 'prewarm.disabled' }, 'pre-warming is off (PREWARM_ENABLED=false): droplets are converted on their first pull');
  return registry;
}
