/**
 * CF's WebDAV blobstore addressing and URL signing: where CC keeps a droplet
 * (`blob_key_generator.rb`, `droplet_model.rb#blobstore_key`) and how `blobstore_url_signer` signs
 * a read link that nginx's `secure_link` module checks
 * (`secure_link_md5 "$secure_link_expires$uri <secret>"`).
 */
import { createHash } from 'node:crypto';

/** cf-deployment's `droplet_directory_key`. */
const DROPLET_DIRECTORY = 'cc-droplets';

/** `/cc-droplets/ab/cd/<guid>/<sha1>`: the key `<guid>/<sha1>` partitioned by its first 2+2 characters. */
export function dropletBlobPath(dropletGuid: string, sha1: string): string {
  const key = `${dropletGuid}/${sha1}`.toLowerCase();
  return `/${DROPLET_DIRECTORY}/${key.slice(0, 2)}/${key.slice(2, 4)}/${key}`;
}

/** `/read<path>?md5=<base64url(md5("<expires>/read<path> <secret>"))>&expires=<expires>` (`signer/sign.go`). */
export function signReadPath(path: string, expires: number, secret: string): string {
  return `/read${path}?md5=${secureLinkHash(`/read${path}`, expires, secret)}&expires=${expires}`;
}

export type SecureLinkVerdict = 'valid' | 'forged' | 'expired';

/**
 * nginx's `$secure_link`: empty (→ 403) unless the hash matches, then "0" (→ 410) if `expires`
 * is past, else "1". The hash is checked first, so a forged link never learns it expired.
 */
export function checkSecureLink(uri: string, md5: string | null, expires: string | null, secret: string, nowSeconds: number): SecureLinkVerdict {
  const expiresAt = Number(expires);
  if (md5 === null || expires === null || !/^\d+$/.test(expires) || expiresAt <= 0) return 'forged';
  if (md5 !== secureLinkHash(uri, expiresAt, secret)) return 'forged';
  return expiresAt < nowSeconds ? 'expired' : 'valid';
}

function secureLinkHash(uri: string, expires: number, secret: string): string {
  return createHash('md5').update(`${expires}${uri} ${secret}`).digest('base64url');
}
