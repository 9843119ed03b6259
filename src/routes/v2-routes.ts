/**
 * The `/v2/` surface: the version check, one catch-all GET route dispatching on the parsed path
 * (HEAD reaches it too: hapi routes HEAD to GET handlers), and 405 UNSUPPORTED for every write
 * verb — answered before any authentication, since nothing can be pushed here. Reads pass the
 * pull gate first (a registry token for the repository, with AUTH=uaa), which binds the request to
 * the app its token was granted for.
 */
import type { Request, ResponseToolkit, ServerRoute } from '@hapi/hapi';
import type { GateRequest, PullGate } from '../auth/pull-gate.ts';
import type { OriginSettings } from '../auth/registry-origin.ts';
import { RegistryError } from '../errors/registry-error.ts';
import type { ImageService } from '../images/image-service.ts';
import { repositoryName, type RepositoryRef } from '../sources/repository-ref.ts';
import type { BlobStreamSlots } from './blob-stream-slots.ts';
import { serveBlob } from './blobs.ts';
import { serveManifest } from './manifests.ts';
import { serveReferrers } from './referrers.ts';
import { clientAddress, headerValue, requestOrigin } from './request-origin.ts';
import { serveTags } from './tags.ts';
import { parseV2Path } from './v2-paths.ts';

/** Who a client is, and how many blobs it is streamed at once. */
export interface ClientLimits {
  readonly trustedProxyHops: number;
  readonly blobStreams: BlobStreamSlots;
  /** Told of the blob bytes sent to clients (`blob_bytes_served_total`). */
  readonly countBlobBytesServed?: ((bytes: number) => void) | undefined;
}

export function v2Routes(images: ImageService, auth: { readonly gate: PullGate; readonly origin: OriginSettings }, clients: ClientLimits): ServerRoute[] {
  const dispatch = async (request: Request, h: ResponseToolkit) => {
    const path: string = typeof request.params.path === 'string' ? request.params.path : '';
    const caller: GateRequest = { authorization: headerValue(request, 'authorization'), origin: requestOrigin(request, auth.origin) };
    if (path === '') {
      await auth.gate.admit(caller);
      return h.response({}).type('application/json');
    }
    const parsed = parseV2Path(path);
    if (!parsed) throw new RegistryError('NAME_UNKNOWN', `no registry endpoint at /v2/${path}`);
    const grantedAppGuid = await auth.gate.authorize(caller, repositoryName(parsed.repository));
    const repository: RepositoryRef = { ...parsed.repository, grantedAppGuid };
    switch (parsed.kind) {
      case 'manifest':
        return serveManifest(images, h, repository, parsed.reference);
      case 'blob':
        return serveBlob(
          images,
          h,
          {
            method: request.method,
            range: request.headers.range as string | undefined,
            holdStreamSlot: () => clients.blobStreams.hold(clientAddress(request, clients.trustedProxyHops), request.raw.res),
            countServed: clients.countBlobBytesServed,
          },
          repository,
          parsed.digest,
        );
      case 'tags':
        return serveTags(images, h, request.query, repository);
      case 'referrers':
        return serveReferrers(images, h, repository, parsed.digest);
    }
  };
  const unsupported = () => {
    throw new RegistryError('UNSUPPORTED', 'this registry is pull-only: images are built from Cloud Foundry droplets');
  };
  return [
    { method: 'GET', path: '/v2/{path*}', options: { response: { ranges: false } }, handler: dispatch },
    // '*' matches every method without a route of its own, i.e. all but GET/HEAD here. Refused on
    // entering the route, before hapi's payload step: that step would send `100 Continue`, and
    // read a body over its limit to the end before answering. hapi then closes the connection,
    // the body left unread.
    { method: '*', path: '/v2/{path*}', options: { ext: { onPreAuth: { method: unsupported } } }, handler: unsupported },
  ];
}
