/**
 * Where a request came from and how the client addressed us, as far as the gorouter tells:
 * `X-Forwarded-Proto` and the Host for the registry's own URL, `X-Forwarded-For` for the client.
 */
import type { Request } from '@hapi/hapi';
import { registryOrigin, type OriginSettings, type RegistryOrigin } from '../auth/registry-origin.ts';

export function requestOrigin(request: Request, settings: OriginSettings): RegistryOrigin {
  return registryOrigin(settings, {
    host: request.info.host,
    forwardedProto: headerValue(request, 'x-forwarded-proto'),
    protocol: request.server.info.protocol,
  });
}

/**
 * The client's address: the first of `X-Forwarded-For` (the gorouter appends the address it saw),
 * else the peer. A client may forge the header to dodge per-address throttling, not to be
 * throttled in someone else's place; without it every client would share the router's address.
 */
export function clientAddress(request: Request): string {
  const forwarded = headerValue(request, 'x-forwarded-for')?.split(',')[0]?.trim();
  return forwarded || request.info.remoteAddress;
}

/** A request header's (first) value. */
export function headerValue(request: Request, name: string): string | undefined {
  const value: unknown = request.headers[name];
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}
