/**
 * GET/HEAD `/v2/<name>/blobs/<digest>`. A blob is served only when it belongs to an image of
 * that repository. HEAD is answered from the database. GET either redirects (307) to a signed
 * blobstore URL, or streams from the local store with single-range support, within the client's
 * share of concurrent streams, counting the bytes it sends (`blob_bytes_served_total`).
 */
import { pipeline, Transform, type Readable } from 'node:stream';
import type { ResponseObject, ResponseToolkit } from '@hapi/hapi';
import { RegistryError } from '../errors/registry-error.ts';
import { isSha256Digest } from '../images/digest.ts';
import type { ImageService } from '../images/image-service.ts';
import type { RepositoryRef } from '../sources/repository-ref.ts';
import { parseByteRange } from './byte-range.ts';
import { CONTENT_DIGEST_HEADER } from './oci-headers.ts';

/** Content addressed by digest never changes (distribution sends the same max-age). */
export const IMMUTABLE_TTL_MS = 365 * 24 * 3600 * 1000;

/** What of a blob request `serveBlob` needs. */
export interface BlobRequest {
  readonly method: string;
  readonly range: string | undefined;
  /** Takes one of the client's blob stream slots for this response; throws (429) when it holds them all. */
  readonly holdStreamSlot: () => void;
  /** Told of each chunk of the body as it goes out. */
  readonly countServed?: ((bytes: number) => void) | undefined;
}

export async function serveBlob(images: ImageService, h: ResponseToolkit, request: BlobRequest, repository: RepositoryRef, digest: string): Promise<ResponseObject> {
  if (!isSha256Digest(digest)) throw new RegistryError('DIGEST_INVALID', `invalid digest ${JSON.stringify(digest)}`, { detail: { digest } });
  const { size } = await images.statBlob(repository, digest);
  if (request.method === 'head') {
    return h.response().code(200).type('application/octet-stream').header('Content-Length', String(size)).header(CONTENT_DIGEST_HEADER, digest).header('Accept-Ranges', 'bytes');
  }
  const redirect = await images.redirectUrl(digest);
  if (redirect) return h.redirect(redirect).code(307).header(CONTENT_DIGEST_HEADER, digest);
  const range = parseByteRange(request.range, size);
  request.holdStreamSlot();
  const stream = await images.openBlob(digest, range);
  const response = h
    .response(request.countServed ? countedAsServed(stream, request.countServed) : stream)
    .type('application/octet-stream')
    .header(CONTENT_DIGEST_HEADER, digest)
    .header('Accept-Ranges', 'bytes')
    .etag(digest, { weak: false, vary: false })
    .ttl(IMMUTABLE_TTL_MS);
  if (!range) return response.header('Content-Length', String(size));
  return response
    .code(206)
    .header('Content-Length', String(range.end - range.start + 1))
    .header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
}

/** `stream`, each chunk counted once it is handed on to the response (a 'data' listener on `stream` itself would start it flowing before hapi reads it). */
function countedAsServed(stream: Readable, count: (bytes: number) => void): Readable {
  const counting = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      count(chunk.length);
      done(null, chunk);
    },
  });
  // Either side's end is the other's: a read failure fails the response, a client gone closes the read.
  return pipeline(stream, counting, () => undefined);
}
