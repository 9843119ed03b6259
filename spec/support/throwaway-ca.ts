/**
 * A certificate authority that lives for one test run, made with openssl(1): tests that need real
 * TLS (a Postgres with `ssl=on`, an HTTPS server) get a CA to trust and a server certificate it
 * signed, for loopback names, plus an unrelated CA to show that verification really happens.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionCommands } from './requirements.ts';

export interface ThrowawayCertificates {
  /** The CA's certificate (PEM): what clients are told to trust. */
  readonly ca: string;
  /** The server's certificate (PEM), signed by `ca`, for the names asked for (default: loopback). */
  readonly cert: string;
  /** The server's private key (PEM, unencrypted). */
  readonly key: string;
}

/** Why throwaway certificates cannot be made here, or null. Installs Debian's openssl when it can. */
export function throwawayCaProblem(): string | null {
  return provisionCommands({ openssl: 'openssl' });
}

/**
 * A fresh CA and a server certificate it signed (valid for a day; RSA 2048 keeps it fast), for
 * `altNames` (openssl subjectAltName entries; default `127.0.0.1`, `::1` and `localhost`).
 */
export function makeThrowawayCertificates(altNames = ['IP:127.0.0.1', 'IP:::1', 'DNS:localhost']): ThrowawayCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'droplet-registry-ca-'));
  try {
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=droplet-registry throwaway test CA', '-keyout', 'ca.key', '-out', 'ca.crt');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=droplet-registry test server', '-keyout', 'server.key', '-out', 'server.csr');
    writeFileSync(join(dir, 'server.ext'), `subjectAltName=${altNames.join(',')}\nextendedKeyUsage=serverAuth\n`);
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', 'server.ext', '-out', 'server.crt');
    const read = (name: string) => readFileSync(join(dir, name), 'utf8');
    return { ca: read('ca.crt'), cert: read('server.crt'), key: read('server.key') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
