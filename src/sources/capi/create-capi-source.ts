/**
 * Wires the CAPI source: HTTP clients with their CAs and timeouts, the service token (UAA found
 * through Cloud Controller's root links unless configured), the client and the source.
 */
import type { Logger } from 'pino';
import type { UpstreamMetrics } from '../../metrics/upstream-metrics.ts';
import { CapiClient } from './capi-client.ts';
import { CapiSource } from './capi-source.ts';
import { ServiceToken } from './service-token.ts';
import { uaaUrlResolver, type UaaUrl } from './uaa-url.ts';
import { createUpstreamHttp } from './upstream-http.ts';

export interface CapiSourceSettings {
  readonly capiUrl: string;
  readonly capiCaCert: string;
  readonly uaaUrl: string;
  readonly uaaCaCert: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly timeoutMs: number;
  readonly pageSize: number;
  /** Pages of one list read at most. */
  readonly maxPages: number;
  readonly blobstoreCaCert: string;
  readonly downloadIdleTimeoutMs: number;
}

export interface CapiParts {
  readonly source: CapiSource;
  readonly client: CapiClient;
  /** UAA's URL, configured or discovered once (user logins and token verification use it too). */
  readonly uaaUrl: UaaUrl;
}

/** `metrics`: times every call to Cloud Controller, UAA and the droplet blobstore. */
export function createCapiSource(settings: CapiSourceSettings, logger: Logger, metrics?: UpstreamMetrics): CapiParts {
  const capiHttp = createUpstreamHttp({ timeoutMs: settings.timeoutMs, caFile: settings.capiCaCert });
  const uaaHttp = createUpstreamHttp({ timeoutMs: settings.timeoutMs, caFile: settings.uaaCaCert });
  // The blobstore must start answering in time; the droplet itself may take long (the client enforces an idle timeout).
  const blobstoreHttp = createUpstreamHttp({ timeoutMs: settings.timeoutMs, caFile: settings.blobstoreCaCert });
  metrics?.instrument(capiHttp, 'capi');
  metrics?.instrument(uaaHttp, 'uaa');
  metrics?.instrument(blobstoreHttp, 'cc_blobstore');
  const uaaUrl = uaaUrlResolver(settings, capiHttp, logger);
  const token = new ServiceToken({ uaaUrl, clientId: settings.clientId, clientSecret: settings.clientSecret, http: uaaHttp, logger });
  const client = new CapiClient({ baseUrl: settings.capiUrl, token, http: capiHttp, blobstoreHttp, logger, downloadIdleTimeoutMs: settings.downloadIdleTimeoutMs, pageSize: settings.pageSize, maxPages: settings.maxPages });
  return { source: new CapiSource(client), client, uaaUrl };
}
