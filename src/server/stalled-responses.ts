/**
 * Drops responses the client has stopped taking. A client that asks for a large blob and never
 * reads it would otherwise keep its connection, the open file and the buffers queued for it for
 * good. Progress is the connection's count of bytes written: a streamed response writes more only
 * as its earlier writes (at most 1 MiB each) reach the kernel, i.e. as the client reads. Whatever
 * the client sends meanwhile does not count (the socket's own idle timer would restart on it). The
 * watch starts when the response does: a handler that takes its time (a conversion) is not cut short.
 */
import type { Server } from '@hapi/hapi';
import type { Logger } from 'pino';
import { requestIdOf } from './request-id.ts';

/** Checks per timeout: a stalled response is dropped within 1¼ timeouts. */
const CHECKS_PER_TIMEOUT = 4;

export function dropStalledResponses(server: Server, stallTimeoutMs: number, logger: Logger): void {
  server.ext('onPreResponse', (request, h) => {
    const socket = request.raw.req.socket;
    const response = request.raw.res;
    // An injected request's stand-in socket counts nothing (and its response is taken at once).
    if (typeof socket.bytesWritten !== 'number') return h.continue;
    let written = socket.bytesWritten;
    let progressAt = Date.now();
    const watch = setInterval(
      () => {
        if (socket.bytesWritten !== written) {
          written = socket.bytesWritten;
          progressAt = Date.now();
          return;
        }
        if (Date.now() - progressAt < stallTimeoutMs) return;
        clearInterval(watch);
        logger.warn(
          { event: 'response.stalled', request: requestIdOf(request), method: request.method.toUpperCase(), path: request.path, timeoutMs: stallTimeoutMs },
          `${request.method.toUpperCase()} ${request.path}: the client took nothing for ${stallTimeoutMs} ms; connection closed`,
        );
        response.destroy();
      },
      Math.ceil(stallTimeoutMs / CHECKS_PER_TIMEOUT),
    );
    watch.unref();
    const stop = () => clearInterval(watch);
    response.once('finish', stop);
    response.once('close', stop);
    return h.continue;
  });
}
