/**
 * The registry's own token keys (TOKEN_SIGNING_KEYS): EC P-256 private keys in PEM files. The
 * first signs; every one verifies, so a new key can be put first while tokens signed with the old
 * one (at most TOKEN_TTL_SECONDS old) keep working. Each key's `kid` is its JWK thumbprint
 * (RFC 7638), the same on every instance given the same files.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { calculateJwkThumbprint, exportJWK } from 'jose';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export interface TokenKeys {
  readonly signing: SigningKey;
  /** Public keys by kid, the signing key's included. */
  readonly verification: ReadonlyMap<string, KeyObject>;
}

/** Reads and checks the key files; the error names the file and what is wrong with it. */
export async function loadTokenKeys(files: readonly string[]): Promise<TokenKeys> {
  if (files.length === 0) throw new Error('TOKEN_SIGNING_KEYS names no key file');
  const privateKeys: KeyObject[] = [];
  for (const file of files) privateKeys.push(checkP256(await readKeyFile(file), file));
  return tokenKeys(privateKeys);
}

/** The key set for private keys already in memory (the first signs). */
export async function tokenKeys(privateKeys: readonly KeyObject[]): Promise<TokenKeys> {
  const keys = await Promise.all(
    privateKeys.map(async (privateKey, index) => {
      const publicKey = createPublicKey(checkP256(privateKey, `key ${index + 1}`));
      return { kid: await calculateJwkThumbprint(await exportJWK(publicKey)), privateKey, publicKey };
    }),
  );
  const [signing] = keys;
  if (!signing) throw new Error('no token signing key');
  return { signing, verification: new Map(keys.map((key) => [key.kid, key.publicKey])) };
}

async function readKeyFile(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new Error(`TOKEN_SIGNING_KEYS: cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return createPrivateKey(pem);
  } catch {
    // The parser's message may quote the file's content.
    throw new Error(`TOKEN_SIGNING_KEYS: ${file} holds no PEM private key`);
  }
}

function checkP256(privateKey: KeyObject, name: string): KeyObject {
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`TOKEN_SIGNING_KEYS: ${name} is not an EC P-256 private key (ES256 tokens need one)`);
  }
  return privateKey;
}
