/**
 * Reading TLS_CERT and TLS_KEY: each wrong file stops the start with a message naming the setting
 * and the path, never a bare OpenSSL code. The HTTPS listener itself, and a key of another
 * certificate, are in spec/integration/server/tls.spec.ts.
 */
import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readTlsCredentials } from '../../../src/server/tls.ts';
import { skipOrFail } from '../../support/requirements.ts';
import { makeThrowawayCertificates, throwawayCaProblem, type ThrowawayCertificates } from '../../support/throwaway-ca.ts';

describe('reading the TLS credentials', { skip: skipOrFail(throwawayCaProblem()) }, () => {
  let dir: string;
  let certs: ThrowawayCertificates;
  /** Writes `content` to a file of that name in the test's directory; its path. */
  const file = (name: string, content: string): string => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'tls-credentials-'));
    certs = makeThrowawayCertificates();
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads nothing when neither file is configured (plain HTTP)', () => {
    assert.equal(readTlsCredentials({ cert: '', key: '' }), undefined);
  });

  it('hands over the certificate and its key as they are in the files', () => {
    const credentials = readTlsCredentials({ cert: file('tls.crt', certs.cert), key: file('tls.key', certs.key) });
    assert.equal(credentials?.cert.toString(), certs.cert);
    assert.equal(credentials?.key.toString(), certs.key);
  });

  it('names the setting, the path and the reason of a file it cannot read', () => {
    const key = file('readable.key', certs.key);
    const missing = join(dir, 'missing.crt');
    assert.throws(() => readTlsCredentials({ cert: missing, key }), { message: `cannot read TLS_CERT ${missing}: ENOENT` });
    const cert = file('readable.crt', certs.cert);
    assert.throws(() => readTlsCredentials({ cert, key: dir }), { message: `cannot read TLS_KEY ${dir}: EISDIR` });
    assert.throws(() => readTlsCredentials({ cert, key: '' }), /^Error: cannot read TLS_KEY /, 'the key alone missing is named too');
  });

  it('says which file is not what its setting wants: a key given as the certificate, a certificate given as the key', () => {
    const keyAsCert = file('swapped.crt', certs.key);
    const certAsKey = file('swapped.key', certs.cert);
    assert.throws(() => readTlsCredentials({ cert: keyAsCert, key: certAsKey }), { message: new RegExp(`^TLS_CERT ${keyAsCert} is not a PEM certificate: `) });
    assert.throws(() => readTlsCredentials({ cert: file('right.crt', certs.cert), key: certAsKey }), { message: new RegExp(`^TLS_KEY ${certAsKey} is not an unencrypted PEM private key: `) });
    assert.throws(() => readTlsCredentials({ cert: file('empty.crt', ''), key: file('any.key', certs.key) }), /is not a PEM certificate/);
  });

  it('refuses a passphrase-protected key, saying it must be unencrypted', () => {
    const encrypted = createPrivateKey(certs.key).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' }).toString();
    const key = file('encrypted.key', encrypted);
    assert.throws(() => readTlsCredentials({ cert: file('tls.crt', certs.cert), key }), { message: new RegExp(`^TLS_KEY ${key} is not an unencrypted PEM private key: `) });
  });

  it('refuses a key of another algorithm than the certificate’s, naming both files', () => {
    const cert = file('rsa.crt', certs.cert);
    const key = file('ec.key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    assert.throws(() => readTlsCredentials({ cert, key }), { message: `TLS_KEY ${key} is not the private key of the certificate in TLS_CERT ${cert}` });
  });
});
