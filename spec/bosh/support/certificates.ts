/**
 * Self-signed certificates of any validity period, made with Ruby's OpenSSL (which bosh-template
 * needs anyway; openssl(1) cannot backdate one): the job parses every certificate it renders, so
 * the tests give it real ones, and expired ones where that is the point.
 */
import { execFileSync } from 'node:child_process';

export interface CertificateOptions {
  readonly commonName?: string;
  /** Seconds from now (negative: in the past); default an hour ago. */
  readonly notBefore?: number;
  /** Seconds from now; default a day ahead. */
  readonly notAfter?: number;
}

const SCRIPT = `
require 'openssl'
options = JSON.parse(ARGV.fetch(0))
key = OpenSSL::PKey::EC.generate('prime256v1')
certificate = OpenSSL::X509::Certificate.new
certificate.version = 2
certificate.serial = rand(1 << 64)
certificate.subject = certificate.issuer = OpenSSL::X509::Name.parse("/CN=#{options['commonName']}")
certificate.public_key = key
certificate.not_before = Time.now + options['notBefore']
certificate.not_after = Time.now + options['notAfter']
extensions = OpenSSL::X509::ExtensionFactory.new(certificate, certificate)
certificate.add_extension(extensions.create_extension('basicConstraints', 'CA:TRUE', true))
certificate.sign(key, OpenSSL::Digest.new('SHA256'))
print certificate.to_pem
`;

/** A PEM self-signed CA certificate (EC P-256). */
export function certificatePem(options: CertificateOptions = {}): string {
  const settings = { commonName: options.commonName ?? 'droplet-registry test CA', notBefore: options.notBefore ?? -3600, notAfter: options.notAfter ?? 86_400 };
  return execFileSync('ruby', ['-rjson', '-e', SCRIPT, JSON.stringify(settings)], { encoding: 'utf8' });
}
