/**
 * The composition root: builds the registry from its configuration (database, blobstore, droplet
 * source, base layers, image service, workers, HTTP server). Only the wiring reads the
 * configuration; each module gets its own slice.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Server } from '@hapi/hapi';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import { InstrumentedBlobStore } from '../blobstore/instrumented-blob-store.ts';
import type { Config } from '../config/load-config.ts';
import { ConversionCoordinator } from '../images/conversion-coordinator.ts';
import { ConversionSlots } from '../images/conversion-slots.ts';
import { ImageLandings } from '../images/image-landings.ts';
import { ImageRecords } from '../images/image-records.ts';
import { ImageService } from '../images/image-service.ts';
import { PullRecorder } from '../images/pull-recorder.ts';
import { ReadyImageCache } from '../images/ready-image-cache.ts';
import { StorageBudget } from '../images/storage-budget.ts';
import { MetricsListener } from '../metrics/metrics-listener.ts';
import { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { createServer } from '../server/create-server.ts';
import { Readiness } from '../server/readiness.ts';
import { readinessChecks } from '../server/readiness-checks.ts';
import { readTlsCredentials } from '../server/tls.ts';
import type { CapiClient } from '../sources/capi/capi-client.ts';
import { startupPhase } from '../startup-phase.ts';
import type { GarbageCollector } from '../workers/garbage-collector.ts';
import type { GcWorker } from '../workers/gc-worker.ts';
import { LeaderElection } from '../workers/leader-election.ts';
import { Prewarmer } from '../workers/prewarmer.ts';
import { createGarbageCollector, createGcWorker } from './garbage-collection.ts';
import { loadBaseLayers } from './load-base-layers.ts';
import { openAuth } from './open-auth.ts';
import { openBlobStore } from './open-blob-store.ts';
import { openDatabase } from './open-database.ts';
import { openDropletSource } from './open-droplet-source.ts';

/**
 * Staged writes older than this were left by a process that died (a conversion's writes take far
 * less); they are swept at start-up and then every `STAGING_SWEEP_INTERVAL_MS`, since with several
 * instances a dead one's leftovers may wait long for a restart.
 */
const STALE_STAGING_MS = 60 * 60 * 1000;
const STAGING_SWEEP_INTERVAL_MS = 15 * 60 * 1000;
/** Pulls are counted in memory and written this often (and at shutdown): no database write on the pull path. */
const PULL_FLUSH_INTERVAL_MS = 5_000;

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
    const { source, capi, uaaUrl, changes } = openDropletSource(config, logger, { upstream: metrics.upstream, sourceCache: metrics.sourceCache });
    const auth = await openAuth(config, source, uaaUrl, logger, { upstream: metrics.upstream, sourceCache: metrics.sourceCache }, capi);
    const slots = new ConversionSlots({ concurrency: config.conversion.concurrency, queue: config.conversion.queue, perApp: config.conversion.perApp });
    metrics.conversions.observeLoad(slots);
    const pulls = new PullRecorder({ db, flushIntervalMs: PULL_FLUSH_INTERVAL_MS, logger });
    pulls.start();
    const records = new ImageRecords({ db, schema: config.database.schema });
    const storageBudget = new StorageBudget({ db, budgetBytes: config.storage.budgetBytes, logger, metrics: metrics.storage });
    metrics.storage.observe(storageBudget);
    const conversions = new ConversionCoordinator({
      records,
      blobs,
      source,
      compressionLevel: config.conversion.compressionLevel,
      splitDeps: config.conversion.dropletLayers === 'split',
      limits: { maxUncompressedBytes: config.conversion.maxUncompressedBytes, maxEntries: config.conversion.maxEntries },
      // The random part tells apart registries of one process (tests) and reused pids (containers).
      instance: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
      slots,
      landings: new ImageLandings({ db, schema: config.database.schema, logger }),
      leaseMs: config.conversion.leaseMs,
      logger,
      metrics: metrics.conversions,
      storageBudget,
    });
    const images = new ImageService({
      records,
      conversions,
      blobs,
      source,
      baseLayers,
      pulls,
      manifestWaitMs: config.conversion.manifestWaitMs,
      logger,
      metrics: metrics.conversions,
      readyImages: new ReadyImageCache({ onLookup: (lookup, hit) => metrics.readyImageCache.record(lookup, hit) }),
      checkBeforeRedirect: config.blobstore.checkBeforeRedirect,
    });
    const garbageCollector = createGarbageCollector(config, {
      db,
      blobs,
      source,
      baseLayers,
      logger,
      onImageRemoved: (image) => images.forgetDroplet(image.dropletGuid),
      storageBudget,
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
      admin: { db, blobs, source, baseLayers, gc: recordedGc, storage: storageBudget },
      readiness,
      logger,
      metrics,
      metricsOnThisPort: config.metrics.port === 0,
      connectionLimits: { headersTimeoutMs: config.headersTimeoutMs, requestTimeoutMs: config.requestTimeoutMs, responseStallTimeoutMs: config.responseStallTimeoutMs },
      trustedProxyHops: config.trustedProxyHops,
      blobStreamsPerClient: config.blobStreamsPerClient,
    });
    const onDropletMapped = changes && ((appGuid: string) => changes.report({ kind: 'current-droplet', appGuid }));
    const prewarmer = capi && config.prewarm.enabled ? createPrewarmer(config, db, capi, images, logger, onDropletMapped) : undefined;
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

function createPrewarmer(config: Config, db: Knex, capi: CapiClient, images: ImageService, logger: Logger, onDropletMapped?: (appGuid: string) => void): Prewarmer {
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
    onDropletMapped,
  });
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
