/**
 * Request ids: the one the gorouter gave the request (`X-Vcap-Request-Id`) or a client or proxy
 * sent (`X-Request-Id`), else a fresh one; echoed in the `X-Request-Id` response header and put on
 * every log line written while the request is served, so one pull can be followed from the
 * gorouter's access log through the registry's lines.
 */
import { randomUUID } from 'node:crypto';
import type { Request, Server } from '@hapi/hapi';
import { logContext } from '../logger.ts';

export const REQUEST_ID_HEADER = 'x-request-id';
/** The gorouter's request id header (routing-release), preferred: it is in the gorouter's access log. */
const VCAP_REQUEST_ID_HEADER = 'x-vcap-request-id';
/** What an incoming id may look like; anything else (too long, spaces, control characters) is replaced. */
const ACCEPTABLE_ID = /^[\w.:@/+=-]{1,128}$/;

/** The request's id (set on arrival by `registerRequestIds`). */
export function requestIdOf(request: Request): string {
  return (request.app as { requestId?: string }).requestId ?? request.info.id;
}

export function registerRequestIds(server: Server): void {
  server.ext('onRequest', (request, h) => {
    const given = [VCAP_REQUEST_ID_HEADER, REQUEST_ID_HEADER].map((name): unknown => request.headers[name]);
    const requestId = given.find((value): value is string => typeof value === 'string' && ACCEPTABLE_ID.test(value)) ?? randomUUID();
    (request.app as { requestId?: string }).requestId = requestId;
    // The rest of the request's lifecycle runs in this async context, and so does work it starts.
    logContext.enterWith({ request: requestId });
    return h.continue;
  });
  server.ext('onPreResponse', (request, h) => {
    const response = request.response;
    const requestId = requestIdOf(request);
    if (response instanceof Error) response.output.headers[REQUEST_ID_HEADER] = requestId;
    else response.header(REQUEST_ID_HEADER, requestId);
    return h.continue;
  });
}
