/**
 * `/admin/layers`: every layer the registry recorded (rootfs, foundation, droplet, lifecycle), with its size,
 * pulls and how many images use it. Only the single-layer resource asks the blobstore whether
 * the blob is really there (`present`): the list would cost one blobstore request per layer.
 */
import type { ServerRoute } from '@hapi/hapi';
import { LAYER_KINDS, type AdminLayerRow, type AdminService, type LayerKind } from '../../admin/admin-service.ts';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { listBody, pageRequest } from './admin-pagination.ts';
import { baseUrl, isoTime } from './admin-services.ts';
import { adminValidation, digest, oneOf, pageParameters } from './admin-validation.ts';
import { answer, errors, listOf, ref } from './openapi-components.ts';

function presentLayer(layer: AdminLayerRow, base: string) {
  return {
    digest: layer.digest,
    kind: layer.kind,
    media_type: layer.mediaType,
    size: layer.size,
    uncompressed_size: layer.uncompressedSize,
    diff_id: layer.diffId,
    created_at: isoTime(layer.createdAt),
    last_pulled_at: isoTime(layer.lastPulledAt),
    pull_count: layer.pullCount,
    unreferenced_since: isoTime(layer.unreferencedSince),
    images: { count: layer.imageCount, href: `${base}/admin/images?layer_digest=${layer.digest}` },
    links: { self: { href: `${base}/admin/layers/${layer.digest}` } },
  };
}

export function layerRoutes(admin: AdminService, origin: OriginSettings): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/layers',
      options: {
        auth: ADMIN_AUTH,
        id: 'listLayers',
        description: 'Layers (rootfs, foundation, droplet, lifecycle), newest first. Does not ask the blobstore whether each blob is present: see getLayer.',
        validate: adminValidation({ query: { kind: oneOf(LAYER_KINDS).description('Only layers of this kind'), ...pageParameters } }),
        plugins: { openapi: { responses: { '200': answer('One page of layers', listOf('Layer')), ...errors() } } },
      },
      handler: async (request) => {
        const { kind } = request.query as { kind?: LayerKind };
        const page = pageRequest(request);
        const { total, rows } = await admin.listLayers({ kind }, page);
        const base = baseUrl(request, origin);
        return listBody(request, base, page, total, rows.map((layer) => presentLayer(layer, base)));
      },
    },
    {
      method: 'GET',
      path: '/admin/layers/{digest}',
      options: {
        auth: ADMIN_AUTH,
        id: 'getLayer',
        description: 'One layer, whether its blob is in the blobstore, and the droplets whose images use it',
        validate: adminValidation({ params: { digest: digest().description('The layer blob digest') } }),
        plugins: { openapi: { responses: { '200': answer('The layer', ref('LayerDetail')), ...errors('NotFound', 'Unavailable') } } },
      },
      handler: async (request) => {
        const { layer, present, dropletGuids } = await admin.layer((request.params as { digest: string }).digest);
        const shown = presentLayer(layer, baseUrl(request, origin));
        return { ...shown, present, images: { ...shown.images, droplet_guids: dropletGuids } };
      },
    },
  ];
}
