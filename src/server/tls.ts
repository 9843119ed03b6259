/**
 * The listener's TLS credentials (`TLS_CERT`/`TLS_KEY`): read once at start and checked to belong
 * together, so a wrong file stops the start with a message naming the setting rather than an
 * OpenSSL error code. With them the registry speaks HTTPS end to end, e.g. behind a gorouter that
 * verifies its backends (route_registrar's `tls_port` and `server_cert_domain_san`).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface TlsCredentials {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** The PEM certificate and key for hapi's `tls` option; `undefined` when neither file is configured. */
export function readTlsCredentials(files: { readonly cert: string; readonly key: string }): TlsCredentials | undefined {
  if (!files.cert && !files.key) return undefined;
  const cert = readPem(files.cert, 'TLS_CERT');
  const key = readPem(files.key, 'TLS_KEY');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(`TLS_CERT ${files.cert} is not a PEM certificate: ${(error as Error).message}`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(`TLS_KEY ${files.key} is not an unencrypted PEM private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) throw new Error(`TLS_KEY ${files.key} is not the private key of the certificate in TLS_CERT ${files.cert}`);
  return { cert, key };
}

function readPem(path: string, setting: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new Error(`cannot read ${setting} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
