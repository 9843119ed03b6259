/**
 * `/admin/images`: what has been converted, what is converting, what failed and why; converting
 * a droplet again; forgetting a droplet's images. A droplet has one image per rootfs and
 * lifecycle it was built with (a patched rootfs makes a new one), so `/admin/images/{droplet_guid}`
 * is the list of that droplet's images.
 */
import type { Request, ResponseToolkit, ServerRoute } from '@hapi/hapi';
import { ADMIN_IMAGE_STATES, deleteDropletImages, findDropletImages, listAdminImages, type AdminImageRow } from '../../db/queries/admin-images.ts';
import { RegistryError } from '../../errors/registry-error.ts';
import { ADMIN_AUTH } from '../../server/admin-auth.ts';
import { listBody } from './admin-pagination.ts';
import { AdminQuery, dropletGuidParam, refuseQuery } from './admin-params.ts';
import { baseUrl, isoTime, type AdminServices } from './admin-services.ts';

/** The admin API's view of one image. */
function presentImage(image: AdminImageRow, base: string) {
  const self = `${base}/admin/images/${encodeURIComponent(image.dropletGuid)}`;
  return {
    id: image.id,
    droplet_guid: image.dropletGuid,
    app_guid: image.appGuid,
    stack: image.stack,
    state: image.state,
    manifest_digest: image.manifestDigest,
    config_digest: image.configDigest,
    layers: { rootfs: image.rootfsDigest, droplet: image.dropletLayerDigest, lifecycle: image.lifecycleDigest },
    bytes: { total: image.totalBytes, droplet_layer: image.dropletLayerBytes },
    error: image.error,
    retryable: image.retryable,
    attempts: image.attempts,
    instance: image.instance,
    lease: { held: image.leaseHeld, expires_at: isoTime(image.leaseExpiresAt) },
    created_at: isoTime(image.createdAt),
    updated_at: isoTime(image.updatedAt),
    converted_at: isoTime(image.convertedAt),
    conversion_ms: image.conversionMs,
    last_pulled_at: isoTime(image.lastPulledAt),
    pull_count: image.pullCount,
    links: {
      self: { href: self },
      convert: { href: `${self}/convert`, method: 'POST' },
      conversions: { href: `${base}/admin/conversions?droplet_guid=${encodeURIComponent(image.dropletGuid)}` },
    },
  };
}

async function dropletBody(services: AdminServices, request: Request, dropletGuid: string) {
  const images = await findDropletImages(services.db, dropletGuid);
  if (images.length === 0) throw new RegistryError('MANIFEST_UNKNOWN', `no image of droplet ${dropletGuid} in this registry`, { detail: { droplet_guid: dropletGuid } });
  const base = baseUrl(request, services);
  return { droplet_guid: dropletGuid, app_guid: images[0]?.appGuid, images: images.map((image) => presentImage(image, base)) };
}

export function imageRoutes(services: AdminServices): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/images',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        const query = new AdminQuery(request, ['app_guid', 'droplet_guid', 'state', 'layer_digest'], { paged: true });
        const filter = { appGuid: query.appGuid('app_guid'), dropletGuid: query.dropletGuid('droplet_guid'), state: query.oneOf('state', ADMIN_IMAGE_STATES), layerDigest: query.digest('layer_digest') };
        const page = query.page();
        const { total, rows } = await listAdminImages(services.db, filter, page);
        const base = baseUrl(request, services);
        return listBody(request, base, page, total, rows.map((image) => presentImage(image, base)));
      },
    },
    {
      method: 'GET',
      path: '/admin/images/{droplet_guid}',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        refuseQuery(request);
        return dropletBody(services, request, dropletGuidParam(request));
      },
    },
    {
      method: 'POST',
      path: '/admin/images/{droplet_guid}/convert',
      options: { auth: ADMIN_AUTH },
      handler: async (request, h) => convert(services, request, h),
    },
    {
      method: 'DELETE',
      path: '/admin/images/{droplet_guid}',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        refuseQuery(request);
        const dropletGuid = dropletGuidParam(request);
        const result = await deleteDropletImages(services.db, dropletGuid);
        if (result.outcome === 'absent') throw new RegistryError('MANIFEST_UNKNOWN', `no image of droplet ${dropletGuid} in this registry`, { detail: { droplet_guid: dropletGuid } });
        if (result.outcome === 'busy') {
          throw new RegistryError('CONFLICT', `droplet ${dropletGuid} is being converted; delete its images once the conversion has ended`, {
            detail: { droplet_guid: dropletGuid, converting_image_ids: result.imageIds },
          });
        }
        // This instance's warm-pull cache forgets them now; other instances' entries expire within a minute.
        services.images.readyImages.evictDroplet(dropletGuid);
        return {
          droplet_guid: dropletGuid,
          images_removed: result.images.map((image) => ({ id: image.id, state: image.state, manifest_digest: image.manifestDigest })),
        };
      },
    },
  ];
}

/** 202 with the droplet's images once a conversion is requested (it runs in the background). */
async function convert(services: AdminServices, request: Request, h: ResponseToolkit) {
  const force = new AdminQuery(request, ['force']).boolean('force', false);
  const dropletGuid = dropletGuidParam(request);
  const found = await services.source.lookupDroplet(dropletGuid);
  if (!found) throw new RegistryError('MANIFEST_UNKNOWN', `droplet ${dropletGuid} not found in the droplet source`, { detail: { droplet_guid: dropletGuid } });
  let outcome;
  try {
    outcome = await services.images.convertDropletNow(found.app, found.droplet, { force });
  } catch (error) {
    // The droplet is there but cannot become an image here (not STAGED, docker, no rootfs for its stack).
    if (error instanceof RegistryError && error.code === 'MANIFEST_UNKNOWN') throw new RegistryError('CONFLICT', error.message, { detail: error.detail });
    throw error;
  }
  if (outcome === 'ready') {
    throw new RegistryError('CONFLICT', `the image of droplet ${dropletGuid} is ready; add force=true to convert it again`, { detail: { droplet_guid: dropletGuid, state: 'ready' } });
  }
  const body = await dropletBody(services, request, dropletGuid);
  const location = `${baseUrl(request, services)}/admin/images/${encodeURIComponent(dropletGuid)}`;
  return h
    .response({ conversion: outcome === 'requested' ? 'requested' : 'already-converting', ...body })
    .code(202)
    .header('Location', location);
}
