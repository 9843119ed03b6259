/**
 * Checks a UAA access token locally the way Cloud Controller accepts one (`uaa_token_decoder.rb`):
 * RS256 only, signed by a key UAA lists at `/token_keys` (cached, fetched again when a token
 * names an unknown kid), unexpired, issued by UAA's issuer, for `cloud_controller`, and not a
 * refresh token (jti ending `-r`). Used for `docker login` with `cf oauth-token` and for /admin.
 */
import type { AxiosInstance } from 'axios';
import { createRemoteJWKSet, customFetch, errors, jwtVerify, type FetchImplementation, type JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import { unavailable } from '../sources/capi/upstream-errors.ts';
import { badCredentials, identityOf, type UaaIdentity } from './uaa-identity.ts';

/** Cloud Controller's resource id: tokens for anything else are not for it. */
const CLOUD_CONTROLLER_AUDIENCE = 'cloud_controller';

export interface UaaTokenVerifierOptions {
  readonly uaaUrl: UaaUrl;
  /** For UAA (its CA, timeouts). */
  readonly http: AxiosInstance;
  readonly logger: Logger;
  /**
   * Least time between two key fetches caused by unknown kids, so forged kids cannot make the
   * registry hammer UAA (jose's default, 30 s). After UAA rotates its key, tokens with the new kid
   * verify once this has passed since the last fetch.
   */
  readonly keysCooldownMs?: number;
}

export class UaaTokenVerifier {
  readonly #options: UaaTokenVerifierOptions;
  #keys: Promise<JWTVerifyGetKey> | undefined;
  #issuer: Promise<string> | undefined;

  constructor(options: UaaTokenVerifierOptions) {
    this.#options = options;
  }

  /** The token's identity; 401 UNAUTHORIZED when it is not acceptable, 503 when UAA cannot be asked. */
  async verify(token: string): Promise<UaaIdentity> {
    const [keys, issuer] = await Promise.all([this.#keySet(), this.#uaaIssuer()]);
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, { algorithms: ['RS256'], issuer, audience: CLOUD_CONTROLLER_AUDIENCE, requiredClaims: ['exp', 'jti'] }));
    } catch (error) {
      if (error instanceof RegistryError) throw error;
      if (error instanceof errors.JWKSTimeout) throw new RegistryError('UNAVAILABLE', 'UAA is unreachable (timed out); try again later', { retryAfter: 10 });
      throw badCredentials(`UAA token refused: ${(error as { code?: string }).code ?? (error as Error).message}`);
    }
    if (String(claims.jti).endsWith('-r')) throw badCredentials('UAA token refused: a refresh token');
    const identity = identityOf(claims, token);
    if (!identity) throw badCredentials('UAA token refused: neither user_id nor client_id');
    return identity;
  }

  #keySet(): Promise<JWTVerifyGetKey> {
    this.#keys ??= this.#options.uaaUrl().then(
      (uaa) =>
        createRemoteJWKSet(new URL(`${uaa.replace(/\/$/, '')}/token_keys`), {
          cooldownDuration: this.#options.keysCooldownMs ?? 30_000,
          [customFetch]: this.#fetchKeys,
        }),
      (error: unknown) => {
        this.#keys = undefined;
        throw error;
      },
    );
    return this.#keys;
  }

  /** `issuer` of UAA's OpenID configuration, asked once. */
  #uaaIssuer(): Promise<string> {
    this.#issuer ??= (async () => {
      const uaa = (await this.#options.uaaUrl()).replace(/\/$/, '');
      try {
        const { data } = await this.#options.http.get<{ issuer?: unknown }>(`${uaa}/.well-known/openid-configuration`, { headers: { accept: 'application/json' } });
        if (typeof data.issuer !== 'string') throw new Error('no issuer in the OpenID configuration');
        return data.issuer;
      } catch (error) {
        throw unavailable('UAA', 'GET /.well-known/openid-configuration', error, this.#options.logger);
      }
    })().catch((error: unknown) => {
      this.#issuer = undefined;
      throw error;
    });
    return this.#issuer;
  }

  /** jose's key fetch through our HTTP client (UAA's CA, our timeouts); failures are UAA outages. */
  readonly #fetchKeys: FetchImplementation = async (url, init) => {
    try {
      const response = await this.#options.http.get<string>(url, {
        headers: Object.fromEntries(init.headers),
        signal: init.signal,
        maxRedirects: 0,
        responseType: 'text',
        transformResponse: (data: string) => data,
      });
      return new Response(response.data, { status: response.status });
    } catch (error) {
      throw unavailable('UAA', 'GET /token_keys', error, this.#options.logger);
    }
  };
}
