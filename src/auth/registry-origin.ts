/**
 * How this registry names itself to a client: the URL of its token endpoint (the challenge's
 * realm, and the tokens' issuer) and its `service` (the tokens' audience). Configured
 * (PUBLIC_URL, TOKEN_SERVICE), else taken from the request as the gorouter forwards it.
 */

export interface RegistryOrigin {
  /** `https://registry.example.com`, without a trailing slash. */
  readonly url: string;
  readonly service: string;
}

export interface OriginSettings {
  /** PUBLIC_URL; empty: from the request. */
  readonly publicUrl: string;
  /** TOKEN_SERVICE; empty: PUBLIC_URL's host, else the request's Host. */
  readonly service: string;
}

/** What of a request the origin is derived from. */
export interface RequestFacts {
  readonly host: string | undefined;
  readonly forwardedProto: string | undefined;
  /** The listener's own protocol (`http`, `https`). */
  readonly protocol: string;
}

export function registryOrigin(settings: OriginSettings, request: RequestFacts): RegistryOrigin {
  if (settings.publicUrl) {
    const url = new URL(settings.publicUrl);
    return { url: url.origin, service: settings.service || url.host };
  }
  const host = headerSafe(request.host ?? 'localhost');
  return { url: `${requestProtocol(request)}://${host}`, service: settings.service || host };
}

/** `WWW-Authenticate` for a request that needs a registry token (for `scope`, when given). */
export function bearerChallenge(origin: RegistryOrigin, scope?: string): string {
  const challenge = `Bearer realm="${origin.url}/v2/token",service="${headerSafe(origin.service)}"`;
  return scope ? `${challenge},scope="${scope}"` : challenge;
}

function requestProtocol(request: RequestFacts): string {
  const forwarded = request.forwardedProto?.split(',')[0]?.trim().toLowerCase();
  return forwarded === 'https' || forwarded === 'http' ? forwarded : request.protocol;
}

/** A Host header is the client's to choose; keep it from breaking the quoted challenge. */
function headerSafe(value: string): string {
  return value.replace(/["\\\s]/g, '');
}
