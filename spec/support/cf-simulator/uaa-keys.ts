/**
 * UAA's token signing keys: one active key signs, every key stays listed in `/token_keys` until
 * removed, so tokens signed before a rotation keep verifying (cf-deployment's `active_key_id`
 * with several `jwt.policy.keys`).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** One entry of `GET /token_keys`, as UAA's TokenKeyEndpoint presents an RSA key. */
export interface TokenKeyJwk {
  readonly kty: 'RSA';
  readonly e: string;
  readonly n: string;
  readonly kid: string;
  readonly alg: 'RS256';
  readonly use: 'sig';
  /** The PEM public key (UAA's legacy `value` field). */
  readonly value: string;
}

export function generateSigningKey(kid: string): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { kid, privateKey, publicKey };
}

export class KeyRing {
  readonly #keys: SigningKey[] = [];
  #active: SigningKey;
  #generation = 0;

  constructor() {
    this.#active = this.#add();
  }

  /** The key new tokens are signed with. */
  get active(): SigningKey {
    return this.#active;
  }

  /** Adds a new key (`key-2`, `key-3`…) and makes it the signing key; older keys still verify. Returns its kid. */
  rotate(): string {
    this.#active = this.#add();
    return this.#active.kid;
  }

  /** Stops listing (and accepting) a key; the active key cannot be removed. */
  remove(kid: string): void {
    if (kid === this.#active.kid) throw new Error(`cf-simulator: ${kid} is the active UAA key`);
    const index = this.#keys.findIndex((key) => key.kid === kid);
    if (index >= 0) this.#keys.splice(index, 1);
  }

  /** Keys tokens may be verified with (what CC fetches from `/token_keys`). */
  verificationKeys(): readonly KeyObject[] {
    return this.#keys.map((key) => key.publicKey);
  }

  jwks(): TokenKeyJwk[] {
    return this.#keys.map(toJwk);
  }

  #add(): SigningKey {
    this.#generation += 1;
    const key = generateSigningKey(`key-${this.#generation}`);
    this.#keys.push(key);
    return key;
  }
}

export function toJwk(key: SigningKey): TokenKeyJwk {
  const jwk = key.publicKey.export({ format: 'jwk' });
  return {
    kty: 'RSA',
    e: String(jwk.e),
    n: String(jwk.n),
    kid: key.kid,
    alg: 'RS256',
    use: 'sig',
    value: String(key.publicKey.export({ format: 'pem', type: 'spki' })).trim(),
  };
}
