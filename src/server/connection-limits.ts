/**
 * What one slow or oversized client may hold of the listener. Without limits a client that sends
 * its headers a byte at a time keeps a connection (and a file descriptor) for as long as it likes;
 * with them Node closes it once the headers or the request take too long. hapi answers every
 * client error with a bare 400; a client is better told why: 431 for headers (or a URL) over
 * Node's 16 KiB limit, 408 for a request that took too long, as Node itself answers them.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';

/** How long a client may take to send a request, and to take its response. */
export interface ConnectionLimits {
  /** Until the request's headers are complete (Node's `headersTimeout`). */
  readonly headersTimeoutMs: number;
  /** Until the whole request is received (Node's `requestTimeout`); at least `headersTimeoutMs`. */
  readonly requestTimeoutMs: number;
  /** Without taking any of its response (`stalled-responses.ts`). */
  readonly responseStallTimeoutMs: number;
}

/** Node checks for expired requests this often at most (its default, 30 s, lets a slow client stay long past the limit). */
const MAX_CHECK_INTERVAL_MS = 1_000;

const CLIENT_ERROR_ANSWERS: Readonly<Record<string, string>> = {
  HPE_HEADER_OVERFLOW: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
  ERR_HTTP_REQUEST_TIMEOUT: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
};

/** Sets the listener's timeouts (before it listens) and answers the client errors hapi would answer 400. */
export function applyConnectionLimits(listener: HttpServer, limits: ConnectionLimits): void {
  listener.headersTimeout = limits.headersTimeoutMs;
  listener.requestTimeout = Math.max(limits.requestTimeoutMs, limits.headersTimeoutMs);
  // Read when the listener starts listening.
  (listener as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(MAX_CHECK_INTERVAL_MS, limits.headersTimeoutMs);
  // Before hapi's own listener, which then finds the socket closed and only destroys it again.
  listener.prependListener('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const answer = error.code === undefined ? undefined : CLIENT_ERROR_ANSWERS[error.code];
    // As Node decides: answer unless a response on this connection has already begun (a keep-alive
    // connection between two requests is fine).
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent: boolean } | null })._httpMessage;
    if (answer === undefined || !socket.writable || inFlight?.headersSent) return;
    socket.write(answer);
    socket.destroy();
  });
}
