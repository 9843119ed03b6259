/**
 * Compact JWS (RS256) signing and verification with `node:crypto` only, the way UAA issues tokens and
 * Cloud Controller checks them. Verification is strict on purpose (RS256 only, known keys only) so
 * that forged tokens the registry might wrongly accept are refused by the simulated CAPI too.
 */
import { createSign, verify, type KeyObject } from 'node:crypto';

export type JwtClaims = Record<string, unknown>;

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
  jku?: string;
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/** Signs `claims` with RS256 under `header` (which must say `alg: RS256`). */
export function signJwt(header: JwtHeader, claims: JwtClaims, privateKey: KeyObject): string {
  const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(privateKey);
  return `${signingInput}.${base64url(signature)}`;
}

/** An unsigned token (`alg: none`), only ever made to prove that it is refused. */
export function unsignedJwt(claims: JwtClaims): string {
  return `${base64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${base64url(JSON.stringify(claims))}.`;
}

interface DecodedJwt {
  header: JwtHeader;
  claims: JwtClaims;
}

/** Decodes without verifying; null when the token is not three base64url JSON parts. */
function decodeJwt(token: string): DecodedJwt | null {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(claims) || typeof header.alg !== 'string') return null;
    return { header: header as unknown as JwtHeader, claims };
  } catch {
    return null;
  }
}

/**
 * Verifies an RS256 signature against `publicKeys`. Like CC's token decoder it ignores `kid` and
 * tries every verification key UAA lists. Returns the decoded token, or null.
 */
export function verifyRs256(token: string, publicKeys: readonly KeyObject[]): DecodedJwt | null {
  const decoded = decodeJwt(token);
  if (!decoded || decoded.header.alg !== 'RS256') return null;
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const signingInput = Buffer.from(`${header}.${payload}`);
  const signatureBytes = Buffer.from(signature, 'base64url');
  return publicKeys.some((key) => verify('RSA-SHA256', signingInput, key, signatureBytes)) ? decoded : null;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
