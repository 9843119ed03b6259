/**
 * GET `/v2/<name>/referrers/<digest>`: no image here has referrers (signatures, SBOMs), so the
 * answer is an empty index; conformance suites fail on a 404 here.
 */
import type { ResponseObject, ResponseToolkit } from '@hapi/hapi';
import { RegistryError } from '../errors/registry-error.ts';
import { isSha256Digest } from '../images/digest.ts';
import type { ImageService } from '../images/image-service.ts';
import type { RepositoryRef } from '../sources/repository-ref.ts';
import { OCI_INDEX } from '../images/media-types.ts';

export async function serveReferrers(images: ImageService, h: ResponseToolkit, repository: RepositoryRef, digest: string): Promise<ResponseObject> {
  if (!isSha256Digest(digest)) throw new RegistryError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`, { detail: { digest } });
  await images.checkRepository(repository);
  return h.response(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] })).type(OCI_INDEX);
}
