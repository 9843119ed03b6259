/**
 * Who may use the /admin endpoints: a caller with a UAA token (Bearer, verified as Cloud
 * Controller verifies one) carrying ADMIN_SCOPE. Without a UAA to verify against (the directory
 * source and no UAA_URL) nobody may.
 */
import { RegistryError } from '../errors/registry-error.ts';
import { bearerToken } from './credentials.ts';
import type { UaaIdentity } from './uaa-identity.ts';
import type { UaaTokenVerifier } from './uaa-token-verifier.ts';

const CHALLENGE = 'Bearer realm="droplet-registry admin"';

export class AdminGuard {
  readonly #verifier: UaaTokenVerifier | undefined;
  readonly #scope: string;

  constructor(options: { readonly verifier: UaaTokenVerifier | undefined; readonly scope: string }) {
    this.#verifier = options.verifier;
    this.#scope = options.scope;
  }

  /** The admin's identity; 401 without a valid UAA token, 403 without the admin scope. */
  async check(authorization: string | undefined): Promise<UaaIdentity> {
    if (!this.#verifier) {
      throw new RegistryError('UNAUTHORIZED', 'admin endpoints need UAA to check tokens: configure UAA_URL or the capi source');
    }
    const token = bearerToken(authorization);
    if (token === undefined) {
      throw new RegistryError('UNAUTHORIZED', `admin endpoints need a UAA token with the ${this.#scope} scope (Authorization: bearer …)`, { headers: { 'WWW-Authenticate': CHALLENGE } });
    }
    let identity: UaaIdentity;
    try {
      identity = await this.#verifier.verify(token);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'UNAUTHORIZED') {
        throw new RegistryError('UNAUTHORIZED', 'invalid UAA token', { headers: { 'WWW-Authenticate': CHALLENGE } });
      }
      throw error;
    }
    if (!identity.scopes.includes(this.#scope)) throw new RegistryError('DENIED', `admin endpoints need the ${this.#scope} scope`, { detail: { scope: this.#scope } });
    return identity;
  }
}
