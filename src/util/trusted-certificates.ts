/**
 * Which certificate authorities the registry's TLS clients trust. Node.js trusts its bundled
 * Mozilla store (and NODE_EXTRA_CA_CERTS) but not the machine's own store, where BOSH puts the
 * director's `trusted_certs` and operators put their company CAs; and a `ca` option given to a
 * client replaces every default instead of adding to it. Here both become additive: the system
 * store joins the defaults once at start, and a configured CA file joins them for its client.
 */
import tls from 'node:tls';

/**
 * Makes every TLS client that names no CA of its own (pg, the AWS SDK, …) trust the system store
 * too, as `node --use-system-ca` would: on Linux OpenSSL's default file and directory
 * (`/etc/ssl/certs`), or SSL_CERT_FILE and SSL_CERT_DIR when set. Call it before the first TLS
 * connection.
 */
export function trustSystemCertificates(): void {
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), ...tls.getCACertificates('system')]);
}

/** The `ca` option of a client given an operator's CA certificates (PEM): those in addition to the defaults, never instead. */
export function trustedCertificatesWith(pem: string): string[] {
  return [...tls.getCACertificates('default'), pem];
}
