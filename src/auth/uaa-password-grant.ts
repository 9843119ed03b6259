/**
 * `docker login -u <cf user> -p <password>`: UAA's password grant through the login client
 * (`cf`, or a dedicated client with the Cloud Controller scopes). The resulting access token
 * comes straight from UAA, so it is read, not verified.
 */
import { isAxiosError, type AxiosInstance } from 'axios';
import { decodeJwt } from 'jose';
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import type { UaaUrl } from '../sources/capi/uaa-url.ts';
import { unavailable } from '../sources/capi/upstream-errors.ts';
import { badCredentials, identityOf, type UaaIdentity } from './uaa-identity.ts';

export interface UaaPasswordGrantOptions {
  readonly uaaUrl: UaaUrl;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly http: AxiosInstance;
  readonly logger: Logger;
}

export class UaaPasswordGrant {
  readonly #options: UaaPasswordGrantOptions;

  constructor(options: UaaPasswordGrantOptions) {
    this.#options = options;
  }

  /** The user's identity and UAA token; 401 UNAUTHORIZED for bad credentials, 503 when UAA fails. */
  async login(username: string, password: string): Promise<UaaIdentity> {
    const { clientId, clientSecret, http, logger } = this.#options;
    const uaa = (await this.#options.uaaUrl()).replace(/\/$/, '');
    let accessToken: unknown;
    try {
      const response = await http.post<{ access_token?: unknown }>(`${uaa}/oauth/token`, new URLSearchParams({ grant_type: 'password', username, password }).toString(), {
        auth: { username: clientId, password: clientSecret },
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      });
      accessToken = response.data.access_token;
    } catch (error) {
      // Only the status and headers are looked at: the request config holds the password.
      const status = isAxiosError(error) ? error.response?.status : undefined;
      const challenge = isAxiosError(error) ? String(error.response?.headers['www-authenticate'] ?? '') : '';
      if (status === 401 && /^basic realm="UAA\/client"/i.test(challenge)) {
        logger.error(
          { event: 'uaa.login_client_refused', clientId },
          `UAA refused the login client ${clientId}; check UAA_LOGIN_CLIENT_ID/UAA_LOGIN_CLIENT_SECRET and that the client has the password grant`,
        );
        throw new RegistryError('UNAVAILABLE', 'the registry cannot log users in with UAA right now; operators have been told in the log', { retryAfter: 60 });
      }
      if (status === 401) throw badCredentials('UAA refused the username or password');
      throw unavailable('UAA', `password grant for the login client ${clientId}`, error, logger);
    }
    const identity = typeof accessToken === 'string' ? readIdentity(accessToken) : undefined;
    if (!identity) throw unavailable('UAA', 'password grant', new Error('UAA answered without a JWT access_token'), logger);
    return identity;
  }
}

function readIdentity(accessToken: string): UaaIdentity | undefined {
  try {
    return identityOf(decodeJwt(accessToken), accessToken);
  } catch {
    return undefined;
  }
}
