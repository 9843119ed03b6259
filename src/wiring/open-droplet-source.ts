import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import type { UpstreamMetrics } from '../metrics/upstream-metrics.ts';
import type { SourceCacheMetrics } from '../metrics/source-cache-metrics.ts';
import { CachingDropletSource } from '../sources/caching-droplet-source.ts';
import { CapiChangeFeed } from '../sources/capi/capi-change-feed.ts';
import type { CapiClient } from '../sources/capi/capi-client.ts';
import { createCapiSource } from '../sources/capi/create-capi-source.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import { DirectorySource } from '../sources/directory/directory-source.ts';
import type { DropletSource } from '../sources/droplet-source.ts';

/**
 * The droplet source, and with the capi source its client (the pre-warmer reads audit events
 * through it) and UAA's URL (user logins use it). Cloud Controller's answers are reused for
 * CAPI_CACHE_TTL_MS, and dropped when its audit events say they changed.
 */
export function openDropletSource(
  config: Config,
  logger: Logger,
  metrics?: { upstream: UpstreamMetrics; sourceCache: SourceCacheMetrics },
): { source: DropletSource; capi?: CapiClient; uaaUrl?: UaaUrl; changes?: CapiChangeFeed } {
  const cacheMetrics = metrics?.sourceCache;
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
    metrics?.upstream,
  );
  if (config.capi.cacheTtlMs === 0) return { source, capi: client, uaaUrl };
  const changes = new CapiChangeFeed({ capi: client, intervalMs: config.capi.changeCheckIntervalMs, logger });
  const cached = new CachingDropletSource({
    source,
    changes,
    ttlMs: config.capi.cacheTtlMs,
    staleIfErrorMs: config.upstreamStaleIfErrorMs,
    logger,
    onLookup: cacheMetrics && ((kind, outcome) => cacheMetrics.record(kind, outcome)),
  });
  return { source: cached, capi: client, uaaUrl, changes };
}
