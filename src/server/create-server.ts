/**
 * Composes the hapi server: the OCI error translator, the API-version header, request logging,
 * the `/v2/` routes and the health probe. Knows nothing of configuration files: `main` hands it
 * the pieces.
 */
import Hapi from '@hapi/hapi';
import type { Logger } from 'pino';
import type { ImageService } from '../images/image-service.ts';
import { API_VERSION, API_VERSION_HEADER } from '../routes/oci-headers.ts';
import { v2Routes } from '../routes/v2-routes.ts';
import { registerOciErrorTranslator } from './oci-error-translator.ts';

export interface ServerOptions {
  readonly host: string;
  readonly port: number;
  readonly images: ImageService;
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

  server.route(v2Routes(options.images));
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
    if (event.tags.includes('error')) logger.error({ request: request.info.id, err: event.error ?? event.data }, 'request failed');
  });
}
