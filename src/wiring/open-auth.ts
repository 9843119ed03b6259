import type { Logger } from 'pino';
import { createAuth, type Auth } from '../auth/create-auth.ts';
import type { Config } from '../config/load-config.ts';
import type { SourceCacheMetrics } from '../metrics/source-cache-metrics.ts';
import type { UpstreamMetrics } from '../metrics/upstream-metrics.ts';
import type { CapiClient } from '../sources/capi/capi-client.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import type { DropletSource } from '../sources/droplet-source.ts';
import { findRepositoryApp, parseRepositoryName } from '../sources/repository-ref.ts';

/** Who may pull (AUTH) and who may use the admin endpoints. */
export function openAuth(
  config: Config,
  source: DropletSource,
  uaaUrl: UaaUrl | undefined,
  logger: Logger,
  metrics?: { upstream: UpstreamMetrics; sourceCache: SourceCacheMetrics },
  capi?: CapiClient,
): Promise<Auth> {
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
      passwordLoginTtlMs: config.uaa.passwordLoginTtlMs,
      staleIfErrorMs: config.upstreamStaleIfErrorMs,
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
      findApp: (name) => findRepositoryApp(source, parseRepositoryName(name)),
      logger,
      metrics: metrics?.upstream,
      onStaleAnswer: metrics && ((answer) => metrics.sourceCache.staleAnswer(answer)),
    },
  );
}
