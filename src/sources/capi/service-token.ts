/**
 * The registry's own UAA token (client_credentials): fetched once, shared by concurrent callers,
 * renewed ahead of expiry and dropped when Cloud Controller says it is no longer valid.
 */
import type { AxiosInstance } from 'axios';
import type { Logger } from 'pino';
import { unavailable } from './upstream-errors.ts';

/** Renew when less than this share of the token's lifetime is left (UAA default: 12 h lifetime). */
const RENEW_AT_REMAINING = 0.2;

export interface ServiceTokenOptions {
  /** UAA's base URL (configured, or discovered from CAPI's root links). */
  readonly uaaUrl: () => Promise<string>;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly http: AxiosInstance;
  readonly logger: Logger;
}

interface CachedToken {
  readonly value: string;
  readonly renewAt: number;
}

export class ServiceToken {
  readonly #options: ServiceTokenOptions;
  #cached: CachedToken | undefined;
  #fetching: Promise<CachedToken> | undefined;

  constructor(options: ServiceTokenOptions) {
    this.#options = options;
  }

  /** A valid access token. */
  async get(): Promise<string> {
    if (this.#cached && Date.now() < this.#cached.renewAt) return this.#cached.value;
    this.#fetching ??= this.#fetch().finally(() => {
      this.#fetching = undefined;
    });
    this.#cached = await this.#fetching;
    return this.#cached.value;
  }

  /** Forgets `token` (Cloud Controller rejected it), so the next `get` fetches a new one. */
  invalidate(token: string): void {
    if (this.#cached?.value === token) this.#cached = undefined;
  }

  async #fetch(): Promise<CachedToken> {
    const { clientId, clientSecret, http, logger } = this.#options;
    const uaa = await this.#options.uaaUrl();
    const started = Date.now();
    try {
      const response = await http.post<{ access_token: string; expires_in: number }>(
        `${uaa.replace(/\/$/, '')}/oauth/token`,
        new URLSearchParams({ grant_type: 'client_credentials', response_type: 'token' }).toString(),
        {
          auth: { username: clientId, password: clientSecret },
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        },
      );
      const { access_token: value, expires_in: expiresIn } = response.data;
      if (typeof value !== 'string' || !Number.isFinite(expiresIn)) throw new Error('UAA answered without access_token/expires_in');
      logger.debug({ event: 'uaa.token', clientId, expiresIn }, 'service token fetched');
      return { value, renewAt: started + expiresIn * 1000 * (1 - RENEW_AT_REMAINING) };
    } catch (error) {
      throw unavailable('UAA', `client_credentials token for ${clientId}`, error, logger);
    }
  }
}
