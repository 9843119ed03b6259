/**
 * Who logged in, as UAA vouches for them, and the one answer every kind of failed login gets: the
 * client learns only that the credentials did not work; the log gets the reason.
 */
import { RegistryError } from '../errors/registry-error.ts';

export interface UaaIdentity {
  /** `user_id` (Cloud Controller's user guid), or the client id of a client's token. */
  readonly userId: string;
  readonly userName: string;
  readonly scopes: readonly string[];
  /** The UAA access token, to ask Cloud Controller as this user. */
  readonly accessToken: string;
  /** When that token expires (its `exp`), in milliseconds since the epoch; undefined when it does not say. */
  readonly expiresAtMs?: number;
}

/** The identity in verified (or freshly issued) UAA access token claims; CC's rule: `user_id`, else `client_id`. */
export function identityOf(claims: Record<string, unknown>, accessToken: string): UaaIdentity | undefined {
  const userId = typeof claims.user_id === 'string' ? claims.user_id : claims.client_id;
  if (typeof userId !== 'string' || userId === '') return undefined;
  const userName = typeof claims.user_name === 'string' ? claims.user_name : userId;
  const scopes = Array.isArray(claims.scope) ? claims.scope.filter((scope): scope is string => typeof scope === 'string') : [];
  const expiresAtMs = typeof claims.exp === 'number' ? claims.exp * 1000 : undefined;
  return { userId, userName, scopes, accessToken, ...(expiresAtMs === undefined ? {} : { expiresAtMs }) };
}

/** 401 for bad credentials; `reason` is for the log only (it is the error's cause, never in the body). */
export function badCredentials(reason: string): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'invalid Cloud Foundry username or password, or an invalid UAA token', { cause: new Error(reason) });
}
