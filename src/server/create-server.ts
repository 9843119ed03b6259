/**
 * Composes the hapi server: the OCI error translator, the API-version header, request logging,
 * the `/v2/` routes behind the pull gate, the token endpoint, the admin auth strategy and the
 * health probe. Knows nothing of configuration files: `main` hands it the pieces.
 */
import Hapi from '@hapi/hapi';
import type { Logger } from 'pino';
import type { Auth } from '../auth/create-auth.ts';
import type { ImageService } from '../images/image-service.ts';
import { API_VERSION, API_VERSION_HEADER } from '../routes/oci-headers.ts';
import { tokenRoutes } from '../routes/token.ts';
import { v2Routes } from '../routes/v2-routes.ts';
import { registerAdminAuth } from './admin-auth.ts';
import { registerOciErrorTranslator } from './oci-error-translator.ts';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly images: ImageService;
  readonly auth: Auth;
  readonly logger: Logger;
}

export async function createServer(options: ServerOptions): Promise<Hapi.Server> {
  const server = Hapi.server({
    host: options.host,
    port: options.port,
    router: { stripTrailingSlash: false },
    routes: { response: { emptyStatusCode: 200 } },
  });
  // Longer than the keep-alive of load balancers in front (gorouter: 90 s idle), so they close first.
  server.listener.keepAliveTimeout = 95_000;

  registerOciErrorTranslator(server);
  server.ext('onPreResponse', (request, h) => {
    const response = request.response;
    if (request.path.startsWith('/v2')) {
      if (response instanceof Error) response.output.headers[API_VERSION_HEADER] = API_VERSION;
      else response.header(API_VERSION_HEADER, API_VERSION);
    }
    return h.continue;
  });
  logRequests(server, options.logger);

  registerAdminAuth(server, options.auth.admin);
  server.route(v2Routes(options.images, options.auth));
  if (options.auth.tokens) server.route(tokenRoutes(options.auth.tokens, options.auth.origin));
  server.route({ method: 'GET', path: '/healthz', handler: () => ({ status: 'ok' }) });
  return server;
}

function logRequests(server: Hapi.Server, logger: Logger): void {
  server.events.on('response', (request) => {
    const response = request.response as { statusCode?: number } | null;
    logger.info(
      {
        event: 'request',
        request: request.info.id,
        method: request.method.toUpperCase(),
        path: request.path,
        status: response?.statusCode,
        ms: Math.round(request.info.completed - request.info.received),
      },
      `${request.method.toUpperCase()} ${request.path} ${response?.statusCode ?? '-'}`,
    );
  });
  server.events.on({ name: 'request', channels: 'app' }, (request, event) => {
    if (event.tags.includes('error')) logger.error({ request: request.info.id, err: describeError(event.error ?? event.data) }, 'request failed');
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
