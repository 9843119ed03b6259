/**
 * The registry's bearer tokens (distribution's token spec): short-lived ES256 JWTs saying who the
 * user is, which repositories they may pull and which ones Cloud Controller refused them (so a
 * refusal can answer 403 or 404 rather than a new challenge). The token server decides; every
 * instance holding the same keys verifies without asking anyone.
 *
 * A grant names the app Cloud Controller was asked about (`app_guid` beside the repository name in
 * the `access` claim), and a pull with the token reaches that app only: names can change while a
 * token lives (a space manager renames their space to another space's name), the app's guid cannot.
 */
import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { RegistryOrigin } from './registry-origin.ts';
import type { TokenKeys } from './signing-keys.ts';

/** Why a repository was refused: 403 DENIED, or 404 NAME_UNKNOWN (the app's existence stays hidden). */
export type Refusal = 'forbidden' | 'not_found';

/** A repository the user may pull, bound to the app it named when Cloud Controller was asked. */
export interface RepositoryAccess {
  readonly name: string;
  readonly appGuid: string;
}

/** What a token grants. */
export interface Grant {
  /** The UAA user id (or client id, for a client's token). */
  readonly subject: string;
  readonly userName: string;
  /** Repositories the user may pull. */
  readonly access: readonly RepositoryAccess[];
  readonly denied: ReadonlyArray<{ readonly name: string; readonly reason: Refusal }>;
}

export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  /** RFC 3339, as the token spec's `issued_at`. */
  readonly issuedAt: string;
}

export interface RegistryTokensOptions {
  readonly keys: TokenKeys;
  readonly ttlSeconds: number;
  /** Milliseconds since the epoch; tests move it instead of waiting. */
  readonly now?: () => number;
}

/** Instances' clocks differ a little; a token must not bounce between them. */
const CLOCK_TOLERANCE_SECONDS = 10;
const REFUSALS: ReadonlySet<string> = new Set<Refusal>(['forbidden', 'not_found']);

export class RegistryTokens {
  readonly #options: RegistryTokensOptions;

  constructor(options: RegistryTokensOptions) {
    this.#options = options;
  }

  /** A token for `grant`, issued by the registry at `origin.url` for its `origin.service`. */
  async issue(grant: Grant, origin: RegistryOrigin): Promise<IssuedToken> {
    const { keys, ttlSeconds } = this.#options;
    const now = Math.floor(this.#now() / 1000);
    const token = await new SignJWT({
      user_name: grant.userName,
      access: grant.access.map(({ name, appGuid }) => ({ type: 'repository', name, actions: ['pull'], app_guid: appGuid })),
      denied: grant.denied.map(({ name, reason }) => ({ name, reason })),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: keys.signing.kid })
      .setIssuer(origin.url)
      .setSubject(grant.subject)
      .setAudience(origin.service)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + ttlSeconds)
      .setJti(randomUUID())
      .sign(keys.signing.privateKey);
    return { token, expiresIn: ttlSeconds, issuedAt: new Date(now * 1000).toISOString() };
  }

  /** The grant of a valid token; `undefined` for anything forged, expired, foreign or malformed. */
  async verify(token: string, origin: RegistryOrigin): Promise<Grant | undefined> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(
        token,
        (header) => {
          const key = header.kid === undefined ? undefined : this.#options.keys.verification.get(header.kid);
          if (!key) throw new Error('unknown key');
          return key;
        },
        {
          algorithms: ['ES256'],
          issuer: origin.url,
          audience: origin.service,
          requiredClaims: ['sub', 'exp', 'iat', 'jti'],
          clockTolerance: CLOCK_TOLERANCE_SECONDS,
          currentDate: new Date(this.#now()),
        },
      ));
    } catch {
      return undefined;
    }
    return toGrant(payload);
  }

  #now(): number {
    return this.#options.now?.() ?? Date.now();
  }
}

function toGrant(payload: JWTPayload): Grant | undefined {
  const { sub, user_name: userName, access, denied } = payload;
  if (typeof sub !== 'string' || typeof userName !== 'string' || !Array.isArray(access) || !Array.isArray(denied)) return undefined;
  return {
    subject: sub,
    userName,
    access: access.filter(isBoundRepositoryPull).map((entry) => ({ name: entry.name, appGuid: entry.app_guid })),
    denied: denied.filter(isRefusal),
  };
}

/** A pull grant with the app it is bound to; one without (a token of an older registry) grants nothing. */
function isBoundRepositoryPull(entry: unknown): entry is { name: string; app_guid: string } {
  const { type, name, actions, app_guid: appGuid } = (entry ?? {}) as Record<string, unknown>;
  return type === 'repository' && typeof name === 'string' && typeof appGuid === 'string' && appGuid !== '' && Array.isArray(actions) && actions.includes('pull');
}

function isRefusal(entry: unknown): entry is { name: string; reason: Refusal } {
  const { name, reason } = (entry ?? {}) as Record<string, unknown>;
  return typeof name === 'string' && typeof reason === 'string' && REFUSALS.has(reason);
}
