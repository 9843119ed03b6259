/**
 * Token acceptance as Cloud Controller does it (`uaa_token_decoder.rb`,
 * `security_context_configurer.rb`, `application_controller.rb`). The simulated CC reads UAA's
 * keys and issuer in-process rather than over HTTP, so the request counters show only the calls
 * the registry itself makes to UAA.
 */
import { verifyRs256 } from '../jwt.ts';
import type { Uaa } from '../uaa.ts';
import { invalidAuthToken, notAuthenticated, notAuthorized } from './errors.ts';
import { SCOPE_ADMIN, SCOPE_ADMIN_READ_ONLY, SCOPE_GLOBAL_AUDITOR, SCOPE_READ, type Viewer } from './permissions.ts';

/** CC's `resource_id`: the audience every accepted token must carry. */
const AUDIENCE = 'cloud_controller';

/**
 * The caller behind an Authorization header. No header, or one that does not start with `bearer`
 * (any case), is "no token" (401 CF-NotAuthenticated); any defect in a bearer token is 401
 * CF-InvalidAuthToken.
 */
export function authenticate(authorization: string | undefined, uaa: Uaa): Viewer {
  if (authorization === undefined || !authorization.toUpperCase().startsWith('BEARER')) throw notAuthenticated();
  const token = authorization.split(' ')[1] ?? '';
  const claims = verifyRs256(token, uaa.keys.verificationKeys())?.claims;
  if (!claims) throw invalidAuthToken();
  const audience = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const jti = claims.jti;
  const acceptable =
    typeof claims.exp === 'number' &&
    claims.exp > Date.now() / 1000 &&
    audience.includes(AUDIENCE) &&
    claims.iss === uaa.issuer &&
    typeof jti === 'string' &&
    jti !== '' &&
    !jti.endsWith('-r');
  if (!acceptable) throw invalidAuthToken();
  const guid = typeof claims.user_id === 'string' ? claims.user_id : claims.client_id;
  if (typeof guid !== 'string') throw invalidAuthToken();
  return {
    guid,
    userName: typeof claims.user_name === 'string' ? claims.user_name : null,
    email: typeof claims.email === 'string' ? claims.email : null,
    scopes: new Set(Array.isArray(claims.scope) ? claims.scope.filter((scope): scope is string => typeof scope === 'string') : []),
  };
}

/** `check_read_permissions!`: a GET needs cloud_controller.read or a global scope. */
export function requireReadScope(viewer: Viewer): void {
  const scopes = viewer.scopes;
  if (![SCOPE_READ, SCOPE_ADMIN, SCOPE_ADMIN_READ_ONLY, SCOPE_GLOBAL_AUDITOR].some((scope) => scopes.has(scope))) throw notAuthorized();
}
