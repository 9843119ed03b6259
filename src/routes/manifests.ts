/**
 * GET/HEAD `/v2/<name>/manifests/<reference>`: the exact stored bytes, by tag or by digest,
 * whatever `Accept` says (there is only one manifest per image, an OCI image manifest).
 */
import type { ResponseObject, ResponseToolkit } from '@hapi/hapi';
import { RegistryError } from '../errors/registry-error.ts';
import { isDigestShaped, isSha256Digest } from '../images/digest.ts';
import type { ImageService } from '../images/image-service.ts';
import type { RepositoryRef } from '../sources/repository-ref.ts';
import { IMMUTABLE_TTL_MS } from './blobs.ts';
import { CONTENT_DIGEST_HEADER } from './oci-headers.ts';
import { isTag } from './v2-paths.ts';

export async function serveManifest(images: ImageService, h: ResponseToolkit, repository: RepositoryRef, reference: string): Promise<ResponseObject> {
  if (!isTag(reference)) {
    if (isDigestShaped(reference) && !isSha256Digest(reference)) {
      throw new RegistryError('DIGEST_INVALID', `invalid digest ${JSON.stringify(reference)}: only sha256 digests are held here`, { detail: { digest: reference } });
    }
    if (!isSha256Digest(reference)) throw new RegistryError('MANIFEST_UNKNOWN', `invalid tag ${JSON.stringify(reference)}`, { detail: { tag: reference } });
  }
  const manifest = await images.getManifest(repository, reference);
  // hapi sends the headers of a Buffer answer to HEAD and drops the body.
  const response = h
    .response(manifest.bytes)
    .type(manifest.mediaType)
    .header(CONTENT_DIGEST_HEADER, manifest.digest)
    .etag(manifest.digest, { weak: false, vary: false });
  // By digest the answer never changes; by tag it may with the next `cf push`.
  return isSha256Digest(reference) ? response.ttl(IMMUTABLE_TTL_MS) : response;
}
