/**
 * Credentials as registry clients send them: HTTP Basic on `GET /v2/token`, and the password that
 * may really be a UAA access token (`cf oauth-token` prints `bearer eyJ…`; people paste it with or
 * without the prefix).
 */
import { decodeProtectedHeader } from 'jose';

export interface Credentials {
  readonly username: string;
  readonly password: string;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The user and password of a `Basic` Authorization header; `undefined` for anything else. */
export function basicCredentials(authorization: string | undefined): Credentials | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * The UAA access token a password is, or `undefined` when it is a password. Three dot-separated
 * words (`correct.horse.battery`) are a password unless the first decodes to a JWS header; a real
 * token that fails verification is refused as one, never sent to UAA as a password (an expired
 * `cf oauth-token` would count towards UAA locking the user out).
 */
export function uaaTokenIn(password: string): string | undefined {
  const candidate = password.trim().replace(/^bearer\s+/i, '');
  if (!JWT_SHAPE.test(candidate)) return undefined;
  try {
    return typeof decodeProtectedHeader(candidate).alg === 'string' ? candidate : undefined;
  } catch {
    return undefined;
  }
}

/** The token of a `Bearer` Authorization header (any case, as Cloud Controller accepts it). */
export function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  return match?.[1];
}
