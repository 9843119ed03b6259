import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, exportJWK } from 'jose';
import { loadTokenKeys } from '../../../src/auth/signing-keys.ts';

const dir = mkdtempSync(join(tmpdir(), 'signing-keys-'));
function pemFile(name: string, key: ReturnType<typeof generateKeyPairSync>['privateKey'], type: 'pkcs8' | 'sec1' = 'pkcs8'): string {
  const file = join(dir, name);
  writeFileSync(file, key.export({ format: 'pem', type }));
  return file;
}

describe('token signing keys', () => {
  it('sign with the first file, verify with all, each under its JWK thumbprint', async () => {
    const first = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const second = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    const keys = await loadTokenKeys([pemFile('first.pem', first), pemFile('second.pem', second, 'sec1')]);
    const kid = async (key: typeof first) => calculateJwkThumbprint(await exportJWK(createPublicKey(key)));
    assert.equal(keys.signing.kid, await kid(first));
    assert.deepEqual([...keys.verification.keys()], [await kid(first), await kid(second)]);
  });

  it('refuse what is not an EC P-256 private key, naming the file and never quoting it', async () => {
    const rsa = pemFile('rsa.pem', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    const p384 = pemFile('p384.pem', generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'top secret\n');
    await assert.rejects(loadTokenKeys([rsa]), /TOKEN_SIGNING_KEYS: .*rsa\.pem is not an EC P-256 private key/);
    await assert.rejects(loadTokenKeys([p384]), /p384\.pem is not an EC P-256 private key/);
    await assert.rejects(loadTokenKeys([junk]), (error: Error) => /junk\.pem holds no PEM private key/.test(error.message) && !error.message.includes('top secret'));
    await assert.rejects(loadTokenKeys([join(dir, 'missing.pem')]), /cannot read .*missing\.pem/);
  });
});
