/**
 * The one place that puts errors on the wire (distribution's errcode + ServeJSON): domain errors
 * and hapi's own (Boom) become `{"errors":[{code,message,detail}]}` with the code's status.
 * Unexpected errors become 500 UNKNOWN without detail; the request log has the cause. The admin
 * endpoints answer in the same shape.
 */
import type { Request, ResponseToolkit, Server } from '@hapi/hapi';
import { isDatabaseConnectionError } from '../db/connection-errors.ts';
import { RegistryError, type OciErrorCode } from '../errors/registry-error.ts';

/** Seconds a client is asked to wait when the database connection was lost (the pool reconnects at once). */
const DATABASE_RETRY_AFTER = 2;

const BOOM_CODES: Record<number, OciErrorCode> = {
  400: 'NAME_INVALID',
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NAME_UNKNOWN',
  405: 'UNSUPPORTED',
  409: 'CONFLICT',
  414: 'NAME_INVALID',
  416: 'RANGE_INVALID',
  429: 'TOOMANYREQUESTS',
};

interface BoomLike extends Error {
  isBoom: true;
  output: { statusCode: number };
}

function isBoom(error: unknown): error is BoomLike {
  return error instanceof Error && (error as Partial<BoomLike>).isBoom === true;
}

/** The registry error a failure stands for. */
export function toRegistryError(error: Error): RegistryError {
  if (error instanceof RegistryError) return error;
  if (isBoom(error) && !(error as { isServer?: boolean }).isServer) {
    // The OCI distribution spec's answer to a body over the limit: 413, not SIZE_INVALID's own 400.
    if (error.output.statusCode === 413) return new RegistryError('SIZE_INVALID', error.message, { status: 413 });
    const status = error.output.statusCode;
    const code = BOOM_CODES[status];
    // Any other client error (408, 415, 422…) keeps its status: it is the client's to fix, not a server failure.
    if (code === undefined) return new RegistryError('UNSUPPORTED', error.message || undefined, { status });
    return new RegistryError(code, error.message || undefined);
  }
  if (isDatabaseConnectionError(error)) {
    return new RegistryError('UNAVAILABLE', 'the registry database is unavailable; try again', { retryAfter: DATABASE_RETRY_AFTER, cause: error });
  }
  return new RegistryError('UNKNOWN');
}

/** Registers the translator for every route under `/v2/` and `/admin/`. */
export function registerOciErrorTranslator(server: Server): void {
  server.ext('onPreResponse', (request: Request, h: ResponseToolkit) => {
    const response = request.response;
    if (!(response instanceof Error) || !/^\/(?:v2|admin)(?:\/|$)/.test(request.path)) return h.continue;
    const error = toRegistryError(response);
    // Unexpected failures, and the lost database an operator must see, go to the log with their cause.
    if (error.code === 'UNKNOWN' || error.cause === response) request.log(['error'], response);
    const body: { code: OciErrorCode; message: string; detail?: unknown } = { code: error.code, message: error.message };
    if (error.detail !== undefined) body.detail = error.detail;
    const answer = h.response({ errors: [body] }).code(error.status).type('application/json');
    if (error.retryAfter !== undefined) answer.header('Retry-After', String(error.retryAfter));
    for (const [name, value] of Object.entries(error.headers)) answer.header(name, value);
    if (error.code === 'RANGE_INVALID') {
      const range = (error.detail as { contentRange?: string } | undefined)?.contentRange;
      if (range) answer.header('Content-Range', range);
    }
    return answer;
  });
}
