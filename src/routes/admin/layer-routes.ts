/**
 * `/admin/layers`: every layer the registry recorded (rootfs, droplet, lifecycle), with its size,
 * pulls and how many images use it. Only the single-layer resource asks the blobstore whether
 * the blob is really there (`present`): the list would cost one blobstore request per layer.
 */
import type { ServerRoute } from '@hapi/hapi';
import { findAdminLayer, findLayerDropletGuids, LAYER_KINDS, listAdminLayers, type AdminLayerRow } from '../../db/queries/admin-layers.ts';
import { RegistryError } from '../../errors/registry-error.ts';
import { ADMIN_AUTH } from '../../server/admin-auth.ts';
import { listBody } from './admin-pagination.ts';
import { AdminQuery, digestParam, refuseQuery } from './admin-params.ts';
import { baseUrl, isoTime, type AdminServices } from './admin-services.ts';

/** How many droplet guids the single-layer resource lists; all of them are one `images` href away. */
const DROPLET_GUIDS_SHOWN = 100;

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

export function layerRoutes(services: AdminServices): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/layers',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        const query = new AdminQuery(request, ['kind'], { paged: true });
        const kind = query.oneOf('kind', LAYER_KINDS);
        const page = query.page();
        const { total, rows } = await listAdminLayers(services.db, { kind }, page);
        const base = baseUrl(request, services);
        return listBody(request, base, page, total, rows.map((layer) => presentLayer(layer, base)));
      },
    },
    {
      method: 'GET',
      path: '/admin/layers/{digest}',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        refuseQuery(request);
        const digest = digestParam(request);
        const layer = await findAdminLayer(services.db, digest);
        if (!layer) throw new RegistryError('BLOB_UNKNOWN', `no layer ${digest} in this registry`, { detail: { digest } });
        const [present, dropletGuids] = await Promise.all([isPresent(services, digest), findLayerDropletGuids(services.db, digest, DROPLET_GUIDS_SHOWN)]);
        const shown = presentLayer(layer, baseUrl(request, services));
        return { ...shown, present, images: { ...shown.images, droplet_guids: dropletGuids } };
      },
    },
  ];
}

/** Whether the blobstore has the blob; UNAVAILABLE when it cannot say. */
async function isPresent(services: AdminServices, digest: string): Promise<boolean> {
  try {
    return (await services.blobs.stat(digest)) !== null;
  } catch (error) {
    throw new RegistryError('UNAVAILABLE', `the blobstore did not answer whether it has ${digest}: ${(error as Error).message}`, { retryAfter: 5, cause: error });
  }
}
