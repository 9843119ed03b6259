/**
 * Turns failures of Cloud Controller, UAA and the blobstore into registry errors an operator can
 * act on: 5xx, timeouts, rate limits and refused service credentials become 503 UNAVAILABLE with
 * `Retry-After`; the log line says which system failed and what to check.
 */
import { isAxiosError } from 'axios';
import type { Logger } from 'pino';
import { RegistryError } from '../../errors/registry-error.ts';
import { isAnswerTooLarge, UPSTREAM_MAX_ANSWER_BYTES } from './upstream-http.ts';

/** Seconds a client should wait before retrying after an upstream outage. */
const DEFAULT_RETRY_AFTER = 10;

/** How long CC's rate limiter asks us to wait: its Retry-After is an epoch time (X-RateLimit-Reset). */
export function retryAfterSeconds(header: unknown, nowMs = Date.now()): number {
  const value = Number(header);
  if (!Number.isFinite(value) || value <= 0) return DEFAULT_RETRY_AFTER;
  const seconds = value > 1e9 ? Math.ceil(value - nowMs / 1000) : Math.ceil(value);
  return Math.min(Math.max(seconds, 1), 3600);
}

/** The upstream's own error text: CAPI's `errors[0].detail`, UAA's `error_description`, or the status line. */
export function upstreamDetail(data: unknown, status: number | undefined): string {
  const body = typeof data === 'string' ? safeJson(data) : data;
  const capi = (body as { errors?: Array<{ title?: string; detail?: string }> } | undefined)?.errors?.[0];
  if (capi?.detail) return capi.title ? `${capi.title}: ${capi.detail}` : capi.detail;
  const uaa = body as { error?: string; error_description?: string } | undefined;
  if (uaa?.error_description) return uaa.error_description;
  return status ? `HTTP ${status}` : 'no answer';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * The registry error for a failed call to `system` ("Cloud Controller", "UAA", "the blobstore"),
 * logged once here with what to check. `what` names the call, e.g. "GET /v3/apps".
 */
export function unavailable(system: string, what: string, error: unknown, logger: Logger): RegistryError {
  if (error instanceof RegistryError) return error;
  if (isAxiosError(error) && error.response) {
    const { status, headers, data } = error.response;
    const detail = upstreamDetail(data, status);
    if (status === 429) {
      const retryAfter = retryAfterSeconds(headers['retry-after'] ?? headers['x-ratelimit-reset']);
      logger.warn({ event: 'upstream.rate_limited', system, call: what, retryAfter }, `${system} rate-limits the registry (${what}); retrying in ${retryAfter}s`);
      return new RegistryError('UNAVAILABLE', `${system} is rate-limiting the registry; try again later`, { retryAfter });
    }
    if (status === 401 || status === 403) {
      logger.error(
        { event: 'upstream.credentials_refused', system, call: what, status, detail },
        `${system} refused the registry's service credentials (${what}: ${status} ${detail}); check UAA_CLIENT_ID/UAA_CLIENT_SECRET and that the client has the cloud_controller.admin_read_only authority`,
      );
      return new RegistryError('UNAVAILABLE', `the registry cannot reach ${system} with its credentials; operators have been told in the log`, { retryAfter: 60 });
    }
    logger.warn({ event: 'upstream.failed', system, call: what, status, detail }, `${system} failed (${what}: ${status} ${detail})`);
    return new RegistryError('UNAVAILABLE', `${system} is unavailable (HTTP ${status}); try again later`, { retryAfter: DEFAULT_RETRY_AFTER });
  }
  if (isAnswerTooLarge(error)) {
    logger.warn(
      { event: 'upstream.answer_too_large', system, call: what, maxBytes: UPSTREAM_MAX_ANSWER_BYTES },
      `${system}'s answer to ${what} is over ${UPSTREAM_MAX_ANSWER_BYTES} bytes, more than the registry reads; refused`,
    );
    return new RegistryError('UNAVAILABLE', `${system} answered with more than ${UPSTREAM_MAX_ANSWER_BYTES} bytes, more than the registry reads; try again later`, { retryAfter: DEFAULT_RETRY_AFTER });
  }
  const reason = isAxiosError(error) ? (error.code === 'ECONNABORTED' || error.code === 'ETIMEDOUT' ? 'timed out' : (error.code ?? error.message)) : (error as Error).message;
  logger.warn({ event: 'upstream.unreachable', system, call: what, reason }, `${system} is unreachable (${what}: ${reason})`);
  return new RegistryError('UNAVAILABLE', `${system} is unreachable (${reason}); try again later`, { retryAfter: DEFAULT_RETRY_AFTER, cause: error });
}
