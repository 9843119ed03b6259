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
import { InstrumentedBlobStore } from './blobstore/instrumented-blob-store.ts';
import { S3BlobStore } from './blobstore/s3-blob-store.ts';
import { WebDavBlobStore } from './blobstore/webdav-blob-store.ts';
import type { Config } from './config/load-config.ts';
import { createDatabase } from './db/create-database.ts';
import { migrateDatabase } from './db/migrate-database.ts';
import { prepareBaseLayers, type BaseLayers } from './images/base-layers.ts';
import { ConversionSlots } from './images/conversion-slots.ts';
import { ImageLandings } from './images/image-landings.ts';
import { ImageService } from './images/image-service.ts';
import { PullRecorder } from './images/pull-recorder.ts';
import { MetricsListener } from './metrics/metrics-listener.ts';
import { CountingReadyImageCache } from './metrics/ready-image-cache-metrics.ts';
import { RegistryMetrics } from './metrics/registry-metrics.ts';
import type { UpstreamMetrics } from './metrics/upstream-metrics.ts';
import { parseRepositoryName } from './routes/v2-paths.ts';
import { createServer } from './server/create-server.ts';
import { Readiness } from './server/readiness.ts';
import { readinessChecks } from './server/readiness-checks.ts';
import { readTlsCredentials } from './server/tls.ts';
import type { CapiClient } from './sources/capi/capi-client.ts';
import { createCapiSource } from './sources/capi/create-capi-source.ts';
import type { UaaUrl } from './sources/capi/uaa-url.ts';
import { DirectorySource } from './sources/directory/directory-source.ts';
import type { DropletSource } from './sources/droplet-source.ts';
import { startupPhase } from './startup-phase.ts';
import { createProgressThrottle } from './util/progress-throttle.ts';
import { GarbageCollector, type GarbageCollectorOptions } from './workers/garbage-collector.ts';
import { GcWorker } from './workers/gc-worker.ts';
import { LeaderElection } from './workers/leader-election.ts';
import { Prewarmer } from './workers/prewarmer.ts';

/**
 * Staged writes older than this were left by a process that died (a conversion's writes take far
 * less); they are swept at start-up and then every `STAGING_SWEEP_INTERVAL_MS`, since with several
 * instances a dead one's leftovers may wait long for a restart.
 */
const STALE_STAGING_MS = 60 * 60 * 1000;
const STAGING_SWEEP_INTERVAL_MS = 15 * 60 * 1000;
/** Pulls are counted in memory and written this often (and at shutdown): no database write on the pull path. */
const PULL_FLUSH_INTERVAL_MS = 5_000;

/** Opens (the embedded database: locks) and migrates the configured database; `logger` hears of a stale lock taken over. */
export async function openDatabase(config: Config, logger: Logger): Promise<Knex> {
  const { url, schema, poolMax, caCert } = config.database;
  const ssl = caCert ? { ca: readFileSync(caCert, 'utf8') } : undefined;
  const db = await startupPhase(logger, 'database.open', () => createDatabase({ url: url || undefined, schema, dataDir: config.dataDir, poolMax, ssl, logger }));
  try {
    await startupPhase(logger, 'database.migrate', () => migrateDatabase(db, config.database.schema));
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
export function openDropletSource(config: Config, logger: Logger, metrics?: UpstreamMetrics): { source: DropletSource; capi?: CapiClient; uaaUrl?: UaaUrl } {
  if (config.source === 'directory') return { source: new DirectorySource({ root: config.dropletsDir, defaultStack: config.defaultStack, logger }) };
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
      maxPages: config.capi.maxPages,
      blobstoreCaCert: config.capi.blobstoreCaCert,
      downloadIdleTimeoutMs: config.capi.downloadIdleTimeoutMs,
    },
    logger,
    metrics,
  );
  return { source, capi: client, uaaUrl };
}

/** Who may pull (AUTH) and who may use the admin endpoints. */
function openAuth(config: Config, source: DropletSource, uaaUrl: UaaUrl | undefined, logger: Logger, metrics?: UpstreamMetrics, capi?: CapiClient): Promise<Auth> {
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
      allowGlobalAuditors: config.authAllowGlobalAuditors,
      adminScope: config.adminScope,
      loginFailuresLimit: config.loginFailures.limit,
      loginFailuresWindowMs: config.loginFailures.windowMs,
      maxRepositoriesPerToken: config.token.maxRepositories,
      upstreamConcurrency: config.authUpstreamConcurrency,
      tokenRequestsPerClient: config.token.requestsPerClient,
    },
    {
      uaaUrl: uaaUrl ?? (configuredUaa ? async () => configuredUaa : undefined),
      source,
      capi,
      findApp: (name) => {
        const repository = parseRepositoryName(name);
        return 'appGuid' in repository ? source.findAppByGuid(repository.appGuid) : source.findApp(repository.org, repository.space, repository.app);
      },
      logger,
      metrics,
    },
  );
}

/** A rootfs import logs its progress after each tenth read, or this long after its last line. */
const IMPORT_PROGRESS_INTERVAL_MS = 5_000;

export function loadBaseLayers(config: Config, db: Knex, blobs: BlobStore, logger: Logger): Promise<BaseLayers> {
  const throttles = new Map<string, (bytesRead: number) => boolean>();
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
    onImportProgress: ({ kind, name, path, bytesRead, totalBytes }) => {
      let due = throttles.get(path);
      if (!due) throttles.set(path, (due = createProgressThrottle(totalBytes, IMPORT_PROGRESS_INTERVAL_MS)));
      if (!due(bytesRead)) return;
      const percent = totalBytes > 0 ? Math.min(100, Math.floor((bytesRead / totalBytes) * 100)) : 100;
      logger.info({ event: 'import.progress', kind, name, path, bytesRead, totalBytes }, `importing ${kind} ${name}: ${percent}% of ${(totalBytes / 1e6).toFixed(1)} MB read`);
    },
  });
}

export interface Registry {
  readonly server: Server;
  readonly images: ImageService;
  readonly db: Knex;
  /** Converts newly staged droplets ahead of their first pull (capi source, PREWARM_ENABLED); started by `startRegistry`. */
  readonly prewarmer: Prewarmer | undefined;
  /** What `/metrics` serves. */
  readonly metrics: RegistryMetrics;
  /** `/metrics` on its own port (METRICS_PORT); started by `startRegistry`. None: served on the main port. */
  readonly metricsListener: MetricsListener | undefined;
  /** Counts pulls in memory and writes them every few seconds. */
  readonly pulls: PullRecorder;
  /** Garbage collection on demand (`POST /admin/gc`); the periodic runs are `gcWorker`'s. */
  readonly garbageCollector: GarbageCollector;
  /** Collects every GC_INTERVAL_MS on one instance; started by `startRegistry`. None: GC_INTERVAL_MS=0. */
  readonly gcWorker: GcWorker | undefined;
  /**
   * Stops the pre-warmer and accepting requests; lets requests and conversions under way finish
   * within SHUTDOWN_TIMEOUT_MS, hands back the conversions still running then; closes the database.
   */
  stop(): Promise<void>;
}

/** What `buildRegistry` takes besides its configuration. */
export interface BuildOptions {
  /** Wraps the configured blobstore (tests inject faults around the real store). */
  readonly wrapBlobStore?: (blobs: BlobStore) => BlobStore;
}

/** Builds the registry from its configuration, ready to `server.start()` (or `server.inject`). */
export async function buildRegistry(config: Config, logger: Logger, options: BuildOptions = {}): Promise<Registry> {
  if (Object.keys(config.stacks).length === 0) {
    logger.warn('no stacks configured (STACKS): every droplet will answer MANIFEST_UNKNOWN until a rootfs is configured');
  }
  // Before anything is opened: a wrong certificate or key is the operator's to fix first.
  const tls = readTlsCredentials(config.tls);
  const db = await openDatabase(config, logger);
  try {
    const metrics = new RegistryMetrics();
    const configured = openBlobStore(config);
    const blobs = new InstrumentedBlobStore(options.wrapBlobStore?.(configured) ?? configured, metrics.blobstore);
    await startupPhase(logger, 'staging.sweep', () => sweepStaging(blobs, logger));
    const baseLayers = await startupPhase(logger, 'base-layers', () => loadBaseLayers(config, db, blobs, logger));
    const { source, capi, uaaUrl } = openDropletSource(config, logger, metrics.upstream);
    const auth = await openAuth(config, source, uaaUrl, logger, metrics.upstream, capi);
    const slots = new ConversionSlots({ concurrency: config.conversion.concurrency, queue: config.conversion.queue, perApp: config.conversion.perApp });
    metrics.conversions.observeLoad(slots);
    const pulls = new PullRecorder({ db, flushIntervalMs: PULL_FLUSH_INTERVAL_MS, logger });
    pulls.start();
    const images = new ImageService({
      db,
      blobs,
      source,
      baseLayers,
      pulls,
      compressionLevel: config.conversion.compressionLevel,
      limits: { maxUncompressedBytes: config.conversion.maxUncompressedBytes, maxEntries: config.conversion.maxEntries },
      // The random part tells apart registries of one process (tests) and reused pids (containers).
      instance: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      schema: config.database.schema,
      slots,
      landings: new ImageLandings({ db, schema: config.database.schema, logger }),
      leaseMs: config.conversion.leaseMs,
      manifestWaitMs: config.conversion.manifestWaitMs,
      logger,
      metrics: metrics.conversions,
      readyImages: new CountingReadyImageCache(metrics.readyImageCache),
      checkBeforeRedirect: config.blobstore.checkBeforeRedirect,
    });
    const garbageCollector = createGarbageCollector(config, {
      db,
      blobs,
      source,
      baseLayers,
      logger,
      onImageRemoved: (image) => images.readyImages.evictDroplet(image.dropletGuid),
    });
    // Runs on demand (POST /admin/gc) and periodic ones are recorded for /metrics.
    const recordedGc = { collect: metrics.gc.wrap((options: { dryRun: boolean }) => garbageCollector.collect(options)) };
    const gcWorker = config.gc.intervalMs > 0 ? createGcWorker(config, db, recordedGc, logger) : undefined;
    const readiness = new Readiness(
      readinessChecks({
        db,
        blobs,
        baseLayers,
        blobstoreWriteProbeMs: config.blobstore.writeProbeIntervalMs,
        capi: uaaUrl ? { url: config.capi.url, caCert: config.capi.caCert, uaaUrl, uaaCaCert: config.uaa.caCert } : undefined,
      }),
    );
    const server = await createServer({
      host: config.host,
      port: config.port,
      tls,
      images,
      auth,
      admin: { db, blobs, source, baseLayers, gc: recordedGc },
      readiness,
      logger,
      metrics,
      metricsOnThisPort: config.metrics.port === 0,
      connectionLimits: { headersTimeoutMs: config.headersTimeoutMs, requestTimeoutMs: config.requestTimeoutMs, responseStallTimeoutMs: config.responseStallTimeoutMs },
      trustedProxyHops: config.trustedProxyHops,
      blobStreamsPerClient: config.blobStreamsPerClient,
    });
    const prewarmer = capi && config.prewarm.enabled ? createPrewarmer(config, db, capi, images, logger) : undefined;
    if (prewarmer) metrics.prewarm.observe(prewarmer);
    const metricsListener = config.metrics.port === 0 ? undefined : new MetricsListener({ host: config.metrics.host || config.host, port: config.metrics.port, metrics, logger });
    const sweeper = setInterval(() => void sweepStaging(blobs, logger).catch((error: unknown) => logger.warn({ err: error }, 'sweeping staged writes failed')), STAGING_SWEEP_INTERVAL_MS);
    sweeper.unref();
    return {
      server,
      images,
      db,
      prewarmer,
      metrics,
      metricsListener,
      pulls,
      garbageCollector,
      gcWorker,
      async stop() {
        clearInterval(sweeper);
        // All at once: the listener closes now, and requests, conversions (the pre-warmer's too) and
        // workers' rounds under way share SHUTDOWN_TIMEOUT_MS; conversions still running then are handed back.
        await Promise.all([prewarmer?.stop(), gcWorker?.stop(), server.stop({ timeout: config.shutdownTimeoutMs }), images.drain(config.shutdownTimeoutMs)]);
        await metricsListener?.stop();
        await pulls.stop();
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

/** Garbage collection as configured: the running configuration's base layers are always kept. */
export function createGarbageCollector(
  config: Config,
  parts: { db: Knex; blobs: BlobStore; source: DropletSource; baseLayers: BaseLayers; logger: Logger; onImageRemoved?: GarbageCollectorOptions['onImageRemoved'] },
): GarbageCollector {
  const { baseLayers, ...rest } = parts;
  return new GarbageCollector({
    ...rest,
    keepDigests: [...[...baseLayers.rootfs.values()].map((layer) => layer.digest), baseLayers.lifecycle.digest],
    imageRetentionDays: config.gc.imageRetentionDays,
    blobGraceMs: config.gc.blobGraceMs,
  });
}

function createGcWorker(config: Config, db: Knex, collector: Pick<GarbageCollector, 'collect'>, logger: Logger): GcWorker {
  return new GcWorker({ collector, leadership: new LeaderElection({ db, name: `gc ${config.database.schema}`, logger }), intervalMs: config.gc.intervalMs, logger });
}

/** Builds the registry and returns once it listens (and, with the capi source, pre-warms). */
export async function startRegistry(config: Config, logger: Logger): Promise<Registry> {
  const registry = await buildRegistry(config, logger);
  try {
    await startupPhase(logger, 'listen', async () => {
      await registry.server.start();
      await registry.metricsListener?.start();
    });
  } catch (error) {
    await registry.stop();
    throw error;
  }
  logger.info(
    { event: 'started', url: registry.server.info.uri, droplets: config.dropletsDir, stacks: Object.keys(config.stacks) },
    `droplet-registry listening on ${registry.server.info.uri}`,
  );
  if (registry.metricsListener) logger.info({ event: 'metrics.listening', url: registry.metricsListener.url }, `metrics on ${registry.metricsListener.url}/metrics`);
  if (registry.prewarmer) registry.prewarmer.start();
  else if (config.source === 'capi') logger.info({ event: 'prewarm.disabled' }, 'pre-warming is off (PREWARM_ENABLED=false): droplets are converted on their first pull');
  registry.gcWorker?.start();
  return registry;
}
