/**
 * Composes the hapi server: request ids, the OCI error translator, the API-version header, request logging,
 * the `/v2/` routes behind the pull gate, the token endpoint, the admin auth strategy and API, the
 * health (`/healthz`) and readiness (`/readyz`) probes. Knows nothing of configuration files: `main` hands it the pieces.
 */
import Hapi from '@hapi/hapi';
import type { Logger } from 'pino';
import type { Auth } from '../auth/create-auth.ts';
import type { ImageService } from '../images/image-service.ts';
import { metricsRoute } from '../metrics/metrics-route.ts';
import type { RegistryMetrics } from '../metrics/registry-metrics.ts';
import { adminRoutes } from '../routes/admin/admin-routes.ts';
import type { AdminServices } from '../routes/admin/admin-services.ts';
import { API_VERSION, API_VERSION_HEADER } from '../routes/oci-headers.ts';
import { BlobStreamSlots } from '../routes/blob-stream-slots.ts';
import { tokenRoutes } from '../routes/token.ts';
import { v2Routes } from '../routes/v2-routes.ts';
import { registerAdminAuth } from './admin-auth.ts';
import { applyConnectionLimits, type ConnectionLimits } from './connection-limits.ts';
import { registerOciErrorTranslator } from './oci-error-translator.ts';
import { readinessRoute, type Readiness } from './readiness.ts';
import { registerRequestIds, requestIdOf } from './request-id.ts';
import { withRequestKinds } from './request-kinds.ts';
import { dropStalledResponses } from './stalled-responses.ts';
import type { TlsCredentials } from './tls.ts';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  /** Given: the listener serves HTTPS with this certificate. */
  readonly tls?: TlsCredentials | undefined;
  readonly images: ImageService;
  readonly auth: Auth;
  /** What the `/admin` endpoints work with, besides `images` and `auth.origin`. */
  readonly admin: Omit<AdminServices, 'images' | 'origin'>;
  /** What `/readyz` checks. */
  readonly readiness: Readiness;
  readonly logger: Logger;
  /** How long a client may take to send its request and to take its response (slow clients are disconnected). */
  readonly connectionLimits: ConnectionLimits;
  /** Proxies in front that append to `X-Forwarded-For`: which address a client is counted by. */
  readonly trustedProxyHops: number;
  /** Blobs streamed to one client address at once; past it, 429. */
  readonly blobStreamsPerClient: number;
  /** Every request is recorded into it; with `metricsOnThisPort`, `GET /metrics` serves it too. */
  readonly metrics?: RegistryMetrics;
  readonly metricsOnThisPort?: boolean;
}

export async function createServer(options: ServerOptions): Promise<Hapi.Server> {
  const server = Hapi.server({
    host: options.host,
    port: options.port,
    ...(options.tls ? { tls: options.tls } : {}),
    router: { stripTrailingSlash: false },
    routes: { response: { emptyStatusCode: 200 } },
    // Blobs are served as application/octet-stream, which hapi would gzip for any client sending
    // `Accept-Encoding: gzip` (Go's HTTP client always does): layers are gzip already, and the
    // client needs the blob's own bytes, Content-Length and ranges.
    mime: { override: { 'application/octet-stream': { compressible: false } } },
  });
  // Longer than the keep-alive of load balancers in front (gorouter: 90 s idle), so they close first.
  server.listener.keepAliveTimeout = 95_000;
  applyConnectionLimits(server.listener, options.connectionLimits);
  dropStalledResponses(server, options.connectionLimits.responseStallTimeoutMs, options.logger);

  registerOciErrorTranslator(server);
  // After the translator, so the id goes on the response it makes of an error.
  registerRequestIds(server);
  server.ext('onPreResponse', (request, h) => {
    const response = request.response;
    if (request.path.startsWith('/v2')) {
      if (response instanceof Error) response.output.headers[API_VERSION_HEADER] = API_VERSION;
      else response.header(API_VERSION_HEADER, API_VERSION);
    }
    return h.continue;
  });
  logRequests(server, options.logger);
  options.metrics?.http.recordRequests(server);

  registerAdminAuth(server, options.auth.admin);
  const blobTransfer = options.metrics?.blobTransfer;
  server.route(
    withRequestKinds(
      v2Routes(options.images, options.auth, {
        trustedProxyHops: options.trustedProxyHops,
        blobStreams: new BlobStreamSlots(options.blobStreamsPerClient),
        countBlobBytesServed: blobTransfer ? (bytes) => blobTransfer.served(bytes) : undefined,
      }),
    ),
  );
  if (options.auth.tokens) server.route(withRequestKinds(tokenRoutes(options.auth.tokens, options.auth.origin, options.trustedProxyHops)));
  server.route(withRequestKinds(adminRoutes({ ...options.admin, images: options.images, origin: options.auth.origin })));
  server.route({ method: 'GET', path: '/healthz', handler: () => ({ status: 'ok' }) });
  server.route(readinessRoute(options.readiness));
  if (options.metrics && options.metricsOnThisPort) server.route(metricsRoute(options.metrics));
  return server;
}

function logRequests(server: Hapi.Server, logger: Logger): void {
  server.events.on('response', (request) => {
    const response = request.response as { statusCode?: number } | null;
    logger.info(
      {
        event: 'request',
        request: requestIdOf(request),
        method: request.method.toUpperCase(),
        path: request.path,
        status: response?.statusCode,
        ms: Math.round(request.info.completed - request.info.received),
      },
      `${request.method.toUpperCase()} ${request.path} ${response?.statusCode ?? '-'}`,
    );
  });
  server.events.on({ name: 'request', channels: 'app' }, (request, event) => {
    if (event.tags.includes('error')) logger.error({ request: requestIdOf(request), err: describeError(event.error ?? event.data) }, 'request failed');
  });
}

/**
 * Name, code, message and stack only: an HTTP client's error also carries its request (headers
 * with a user's token, a form with a password), which must never reach a log.
 */
function describeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  return { type: error.name, code: (error as { code?: unknown }).code, message: error.message, stack: error.stack };
}
