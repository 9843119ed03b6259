/**
 * The token server (distribution's model: it decides, the registry verifies): logs the user in
 * with UAA — a password through the password grant, or a UAA token verified locally — asks Cloud
 * Controller, as that user, about each repository in the requested scopes, and signs a registry
 * token with what was granted (bound to the app's guid) and what was refused. Failed logins are
 * throttled before UAA is asked.
 *
 * What one request may cost upstream is bounded: at most `maxRepositories` distinct repositories
 * are decided, `PER_REQUEST_CONCURRENCY` of them at once, and a request deciding anything holds one
 * of the instance's `upstream` slots meanwhile (or waits in its bounded queue, or is refused 429),
 * and one client address at most `perClient` of them, so no user can spend the registry's Cloud
 * Controller rate limit nor crowd the others out.
 */
import type { Logger } from 'pino';
import { RegistryError } from '../errors/registry-error.ts';
import type { BoundedSlots } from '../util/bounded-slots.ts';
import type { PerKeyLimit } from '../util/per-key-limit.ts';
import { mapConcurrently } from '../util/map-concurrently.ts';
import { requestedRepositories } from './access-scopes.ts';
import { uaaTokenIn, type Credentials } from './credentials.ts';
import type { DownloadPermission, RepositoryDecision } from './download-permission.ts';
import type { LoginThrottle } from './login-throttle.ts';
import type { PasswordLoginMemo } from './password-login-memo.ts';
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
  /** Password logins UAA confirmed a moment ago. */
  readonly passwordLogins: PasswordLoginMemo;
  /** Told of each login a remembered one stood in for because UAA failed. */
  readonly onStaleLogin?: () => void;
  readonly permission: DownloadPermission;
  readonly throttle: LoginThrottle;
  /** Distinct repositories decided per request; the rest are not granted. */
  readonly maxRepositories: number;
  /** Shared by every token request of the instance: one slot per request deciding repositories. */
  readonly upstream: BoundedSlots;
  /** Requests deciding (or waiting to) at once per client address, so one client cannot take every slot. */
  readonly perClient: PerKeyLimit;
  readonly logger: Logger;
}

/** Decisions of one request in flight at once: a pull asks for one repository, a multi-repository client rarely for more. */
const PER_REQUEST_CONCURRENCY = 4;

export class TokenService {
  readonly #options: TokenServiceOptions;

  constructor(options: TokenServiceOptions) {
    this.#options = options;
  }

  /** 401 (with the Bearer challenge) for bad credentials, 429 while throttled, 503 when UAA or Cloud Controller fail. */
  async issue(request: TokenRequest): Promise<IssuedToken> {
    const { tokens, maxRepositories, logger } = this.#options;
    const identity = await this.#login(request);
    const names = requestedRepositories(request.scopes, maxRepositories);
    const decisions = names.length === 0 ? [] : await this.#decide(identity, names, request.clientAddress);
    const grant: Grant = {
      subject: identity.userId,
      userName: identity.userName,
      access: decisions.flatMap(({ name, decision, appGuid }) => (decision === 'granted' && appGuid !== undefined ? [{ name, appGuid }] : [])),
      denied: decisions.flatMap(({ name, decision }) => (decision === 'granted' ? [] : [{ name, reason: decision }])),
    };
    logger.info({ event: 'token.issued', user: identity.userName, access: grant.access, denied: grant.denied }, `registry token for ${identity.userName}`);
    return tokens.issue(grant, request.origin);
  }

  /** Cloud Controller's decisions on `names`, within the client's share and one of the instance's upstream slots. */
  async #decide(identity: UaaIdentity, names: readonly string[], clientAddress: string): Promise<Array<{ name: string } & RepositoryDecision>> {
    const { permission, upstream, perClient, logger } = this.#options;
    const release = perClient.tryTake(clientAddress);
    if (!release) {
      logger.warn({ event: 'token.client_busy', user: identity.userName, address: clientAddress }, `token requests from ${clientAddress} refused: too many at once`);
      throw new RegistryError('TOOMANYREQUESTS', 'too many token requests from this address are being decided at once; try again shortly', { retryAfter: 1 });
    }
    try {
      return await upstream.run(() => mapConcurrently(names, PER_REQUEST_CONCURRENCY, async (name) => ({ name, ...(await permission.decide(identity, name)) })));
    } finally {
      release();
    }
  }

  async #login(request: TokenRequest): Promise<UaaIdentity> {
    const { throttle, verifier, passwordGrant, logger } = this.#options;
    const { username, password } = request.credentials;
    const keys = [userThrottleKey(username), `address:${request.clientAddress}`];
    const wait = throttle.retryAfter(keys);
    if (wait > 0) {
      logger.warn({ event: 'login.throttled', user: username, address: request.clientAddress, retryAfter: wait }, `login of ${username} throttled`);
      throw new RegistryError('TOOMANYREQUESTS', `too many failed logins; try again in ${wait} s`, { retryAfter: wait });
    }
    const uaaToken = uaaTokenIn(password);
    try {
      const identity = uaaToken ? await verifier.verify(uaaToken) : await this.#passwordLogin(username, password);
      // Only the name UAA vouched for: a login with one's own UAA token under a victim's name must
      // not wipe the failures of guesses at the victim's password.
      throttle.forget(userThrottleKey(identity.userName));
      return identity;
    } catch (error) {
      if (!(error instanceof RegistryError && error.code === 'UNAUTHORIZED')) throw error;
      throttle.recordFailure(keys);
      this.#options.passwordLogins.forget(username);
      const reason = error.cause instanceof Error ? error.cause.message : error.message;
      logger.warn({ event: 'login.failed', user: username, address: request.clientAddress, with: uaaToken ? 'uaa-token' : 'password', reason }, `login of ${username} failed: ${reason}`);
      throw new RegistryError('UNAUTHORIZED', error.message, { headers: { 'WWW-Authenticate': bearerChallenge(request.origin) } });
    }
  }
  /**
   * UAA's password grant, unless it confirmed these credentials a moment ago (a burst of logins
   * with them shares one grant); a remembered login stands in while UAA fails.
   */
  async #passwordLogin(username: string, password: string): Promise<UaaIdentity> {
    const { passwordGrant, passwordLogins, logger } = this.#options;
    const remembered = passwordLogins.recall(username, password);
    if (remembered) return remembered;
    try {
      return await passwordLogins.loginOnce(username, password, () => passwordGrant.login(username, password));
    } catch (error) {
      const stale = error instanceof RegistryError && error.code === 'UNAVAILABLE' ? passwordLogins.recallStale(username, password) : undefined;
      if (!stale) throw error;
      this.#options.onStaleLogin?.();
      logger.warn({ event: 'login.stale_answer', user: username, err: error }, `UAA failed (${(error as Error).message}); ${username}'s login confirmed earlier stands in`);
      return stale;
    }
  }
}

/**
 * Usernames are case-insensitive in UAA, so are their failure counts; surrounding white space counts
 * for nothing either (a database may compare `alice ` equal to `alice`).
 */
function userThrottleKey(userName: string): string {
  return `user:${userName.trim().toLowerCase()}`;
}
