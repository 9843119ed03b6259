/**
 * Read links for Cloud Foundry's WebDAV blobstore, signed the way nginx's `secure_link` module in
 * capi-release's `blobstore` job checks them (`secure_link_md5 "$secure_link_expires$uri <secret>"`)
 * and `blobstore_url_signer` (`signer/sign.go`) signs them. Signing locally with the shared secret
 * saves a round trip to the blobstore's `/sign` endpoint on every blob request.
 */
import { createHash } from 'node:crypto';

/** nginx's `$secure_link_md5` value: base64url, unpadded, of MD5("<expires><uri> <secret>"). */
export function secureLinkMd5(uri: string, expiresAtSeconds: number, secret: string): string {
  return createHash('md5').update(`${expiresAtSeconds}${uri} ${secret}`).digest('base64url');
}

/**
 * `<publicEndpoint>/read<path>?md5=…&expires=…`, valid until `expiresAtSeconds` (unix time).
 * `path` starts with `/` and is what nginx sees as `$uri` after `/read`, so it must be one nginx
 * leaves as it is: nginx hashes the URI after percent-decoding it and resolving `.` and `..`.
 */
export function signedReadUrl(publicEndpoint: string, path: string, expiresAtSeconds: number, secret: string): string {
  const segments = path.split('/');
  const plain = segments[0] === '' && segments.slice(1).every((segment) => /^[A-Za-z0-9._~-]+$/.test(segment) && !/^\.\.?$/.test(segment));
  if (segments.length < 2 || !plain) throw new TypeError(`not a plain blobstore path: ${JSON.stringify(path)}`);
  const uri = `/read${path}`;
  const origin = publicEndpoint.replace(/\/+$/, '');
  return `${origin}${uri}?md5=${secureLinkMd5(uri, expiresAtSeconds, secret)}&expires=${expiresAtSeconds}`;
}
