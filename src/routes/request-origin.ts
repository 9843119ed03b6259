/**
 * Where a request came from and how the client addressed us, as far as the gorouter tells:
 * `X-Forwarded-Proto` and the Host for the registry's own URL when PUBLIC_URL is unset (a client
 * that lies there only misnames the registry to itself), `X-Forwarded-For` for the client's
 * address, where only the entries of trusted proxies count.
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
 * The client's address as far as the registry can vouch for it: the socket peer, or with
 * `trustedProxyHops` proxies in front (each appending the address it saw to `X-Forwarded-For`),
 * the address the outermost of them saw. What a client writes into the header itself lands left
 * of those entries and is never taken, so it cannot dodge per-address limits with it, nor be
 * limited in someone else's place.
 */
export function clientAddress(request: Request, trustedProxyHops: number): string {
  return addressBehindProxies(request.info.remoteAddress, headerValue(request, 'x-forwarded-for'), trustedProxyHops);
}

/**
 * Counted from the right of `forwardedFor` + `peer`, `trustedProxyHops` entries in. A request
 * that passed fewer proxies than configured gets the leftmost address there is.
 */
export function addressBehindProxies(peer: string, forwardedFor: string | undefined, trustedProxyHops: number): string {
  if (trustedProxyHops === 0) return peer;
  const forwarded = (forwardedFor ?? '')
    .split(',')
    .map((address) => address.trim())
    .filter(Boolean);
  const chain = [...forwarded, peer];
  return chain[Math.max(0, chain.length - 1 - trustedProxyHops)] as string;
}

/** A request header's (first) value. */
export function headerValue(request: Request, name: string): string | undefined {
  const value: unknown = request.headers[name];
  const first: unknown = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' ? first : undefined;
}
