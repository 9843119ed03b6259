/**
 * The token server (distribution's model: it decides, the registry verifies): logs the user in
 * with UAA — a password through the password grant, or a UAA token verified locally — asks Cloud
 * Controller, as that user, about each repository in the requested scopes, and signs a registry
 * token with what was granted and what was refused. Failed logins are throttled before UAA is asked.
 */
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import { requestedRepositories } from './access-scopes.ts';
import { uaaTokenIn, type Credentials } from './credentials.ts';
import type { DownloadPermission } from './download-permission.ts';
import type { LoginThrottle } from './login-throttle.ts';
import { bearerChallenge, type RegistryOrigin } from './registry-origin.ts';
import type { Grant, IssuedToken, RegistryTokens } from './registry-tokens.ts';
import type { UaaIdentity } from './uaa-identity.ts';
import type { UaaPasswordGrant } from './uaa-password-grant.ts';
import type { UaaTokenVerifier } from './uaa-token-verifier.ts';

export interface TokenRequest {
  readonly credentials: Credentials;
  /** The `scope` parameters as sent. */
  readonly scopes: readonly string[];
  /** Where the request came from, for throttling. */
  readonly clientAddress: string;
  readonly origin: RegistryOrigin;
}

export interface TokenServiceOptions {
  readonly tokens: RegistryTokens;
  readonly verifier: UaaTokenVerifier;
  readonly passwordGrant: UaaPasswordGrant;
  readonly permission: DownloadPermission;
  readonly throttle: LoginThrottle;
  readonly logger: Logger;
}

export class TokenService {
  readonly #options: TokenServiceOptions;

  constructor(options: TokenServiceOptions) {
    this.#options = options;
  }

  /** 401 (with the Bearer challenge) for bad credentials, 429 while throttled, 503 when UAA or Cloud Controller fail. */
  async issue(request: TokenRequest): Promise<IssuedToken> {
    const { tokens, permission, logger } = this.#options;
    const identity = await this.#login(request);
    const names = requestedRepositories(request.scopes);
    const decisions = await Promise.all(names.map(async (name) => ({ name, decision: await permission.decide(identity, name) })));
    const grant: Grant = {
      subject: identity.userId,
      userName: identity.userName,
      access: decisions.filter(({ decision }) => decision === 'granted').map(({ name }) => name),
      denied: decisions.flatMap(({ name, decision }) => (decision === 'granted' ? [] : [{ name, reason: decision }])),
    };
    logger.info({ event: 'token.issued', user: identity.userName, access: grant.access, denied: grant.denied }, `registry token for ${identity.userName}`);
    return tokens.issue(grant, request.origin);
  }

  async #login(request: TokenRequest): Promise<UaaIdentity> {
    const { throttle, verifier, passwordGrant, logger } = this.#options;
    const { username, password } = request.credentials;
    const userKey = `user:${username.toLowerCase()}`;
    const keys = [userKey, `address:${request.clientAddress}`];
    const wait = throttle.retryAfter(keys);
    if (wait > 0) {
      logger.warn({ event: 'login.throttled', user: username, address: request.clientAddress, retryAfter: wait }, `login of ${username} throttled`);
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; try again in ${wait} s`, { retryAfter: wait });
    }
    const uaaToken = uaaTokenIn(password);
    try {
      const identity = uaaToken ? await verifier.verify(uaaToken) : await passwordGrant.login(username, password);
      throttle.forget(userKey);
      return identity;
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === 'UNAUTHORIZED')) throw error;
      throttle.recordFailure(keys);
      const reason = error.cause instanceof Error ? error.cause.message : error.message;
      logger.warn({ event: 'login.failed', user: username, address: request.clientAddress, with: uaaToken ? 'uaa-token' : 'password', reason }, `login of ${username} failed: ${reason}`);
      throw new RegistryError('UNAUTHORIZED', error.message, { headers: { 'WWW-Authenticate': bearerChallenge(request.origin) } });
    }
  }
}
