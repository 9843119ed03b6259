/**
 * `/admin/images`: what has been converted, what is converting, what failed and why; converting
 * a droplet again; forgetting a droplet's images. A droplet has one image per base (stack,
 * foundation and lifecycle layers) it was built on (a new base makes a new one, rebased from the
 * droplet's stored layers), so `/admin/images/{droplet_guid}` is the list of that droplet's images.
 */
import type { Request, ServerRoute } from '@hapi/hapi';
import Joi from 'joi';
import { ADMIN_IMAGE_STATES, type AdminImage, type AdminImageState, type AdminService } from '../../admin/admin-service.ts';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { listBody, pageRequest } from './admin-pagination.ts';
import { baseUrl, isoTime } from './admin-services.ts';
import { adminValidation, appGuid, digest, dropletGuid, oneOf, pageParameters } from './admin-validation.ts';
import { answer, errors, json, listOf, ref } from './openapi-components.ts';

/** The admin API's view of one image. */
function presentImage(image: AdminImage, base: string) {
  const self = `${base}/admin/images/${encodeURIComponent(image.dropletGuid)}`;
  return {
    id: image.id,
    droplet_guid: image.dropletGuid,
    app_guid: image.appGuid,
    stack: image.stack,
    state: image.state,
    manifest_digest: image.manifestDigest,
    config_digest: image.configDigest,
    layers: { stack: image.stackDigest, foundation: image.foundationDigest, droplet: image.dropletLayers.map((layer) => layer.digest), lifecycle: image.lifecycleDigest },
    base_current: image.baseCurrent,
    bytes: { total: image.totalBytes, droplet_layers: image.dropletLayerBytes },
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

/** The `{droplet_guid}` path parameter. */
const DROPLET_PARAMS = { droplet_guid: dropletGuid().description('The droplet guid') };
const dropletGuidOf = (request: Request) => (request.params as { droplet_guid: string }).droplet_guid;

interface ImagesQuery {
  readonly app_guid?: string;
  readonly droplet_guid?: string;
  readonly state?: AdminImageState;
  readonly layer_digest?: string;
}

export function imageRoutes(admin: AdminService, origin: OriginSettings): ServerRoute[] {
  /** The droplet's images, as the droplet resource shows them. */
  const dropletBody = async (request: Request, dropletGuid: string) => {
    const images = await admin.dropletImages(dropletGuid);
    const base = baseUrl(request, origin);
    return { droplet_guid: dropletGuid, app_guid: images[0]?.appGuid, images: images.map((image) => presentImage(image, base)) };
  };
  return [
    {
      method: 'GET',
      path: '/admin/images',
      options: {
        auth: ADMIN_AUTH,
        id: 'listImages',
        description: 'Images, newest first',
        validate: adminValidation({
          query: {
            app_guid: appGuid().description('Only images of this app'),
            droplet_guid: dropletGuid().description('Only images of this droplet'),
            state: oneOf(ADMIN_IMAGE_STATES).description('Only images in this state'),
            layer_digest: digest().description('Only images whose manifest references this blob'),
            ...pageParameters,
          },
        }),
        plugins: { openapi: { responses: { '200': answer('One page of images', listOf('Image')), ...errors() } } },
      },
      handler: async (request) => {
        const query = request.query as ImagesQuery;
        const page = pageRequest(request);
        const filter = { appGuid: query.app_guid, dropletGuid: query.droplet_guid, state: query.state, layerDigest: query.layer_digest };
        const { total, rows } = await admin.listImages(filter, page);
        const base = baseUrl(request, origin);
        return listBody(request, base, page, total, rows.map((image) => presentImage(image, base)));
      },
    },
    {
      method: 'GET',
      path: '/admin/images/{droplet_guid}',
      options: {
        auth: ADMIN_AUTH,
        id: 'getDropletImages',
        description: "A droplet's images (one per base, stack + foundation + lifecycle, it was built on), newest first",
        validate: adminValidation({ params: DROPLET_PARAMS }),
        plugins: { openapi: { responses: { '200': answer("The droplet's images", ref('DropletImages')), ...errors('NotFound') } } },
      },
      handler: async (request) => dropletBody(request, dropletGuidOf(request)),
    },
    {
      method: 'POST',
      path: '/admin/images/{droplet_guid}/convert',
      options: {
        auth: ADMIN_AUTH,
        id: 'convertDroplet',
        description:
          'Converts the droplet (looked up in Cloud Controller or the droplets folder) on the configured base (stack, foundation, lifecycle), in the background: from its stored layers when it was converted before (a rebase), else from the droplet; force=true converts it from the droplet again. A failed image gets a new attempt: a failed image gets a new attempt, retryable or not; a ready one only with force=true. 409 when the image is ready (without force) or the droplet cannot become an image here.',
        validate: adminValidation({ params: DROPLET_PARAMS, query: { force: Joi.boolean().default(false).description('Convert a ready image again') } }),
        plugins: {
          openapi: {
            responses: {
              '202': {
                description: 'Conversion requested (or already under way); Location is the droplet images resource to poll',
                headers: { Location: { schema: { type: 'string', format: 'uri' } } },
                content: json({ allOf: [ref('DropletImages'), { type: 'object', properties: { conversion: { enum: ['requested', 'already-converting'] } } }] }),
              },
              ...errors('NotFound', 'Conflict', 'Unavailable'),
            },
          },
        },
      },
      // 202 with the droplet's images: the conversion runs in the background.
      handler: async (request, h) => {
        const dropletGuid = dropletGuidOf(request);
        const conversion = await admin.convertDroplet(dropletGuid, { force: (request.query as { force: boolean }).force });
        const body = await dropletBody(request, dropletGuid);
        return h
          .response({ conversion, ...body })
          .code(202)
          .header('Location', `${baseUrl(request, origin)}/admin/images/${encodeURIComponent(dropletGuid)}`);
      },
    },
    {
      method: 'DELETE',
      path: '/admin/images/{droplet_guid}',
      options: {
        auth: ADMIN_AUTH,
        id: 'deleteDropletImages',
        description:
          "Removes the droplet's image rows (their blob references and conversion records go with them; blobs are left to garbage collection). The next pull converts the droplet again.",
        validate: adminValidation({ params: DROPLET_PARAMS }),
        plugins: {
          openapi: {
            responses: {
              '200': answer('The images removed', {
                type: 'object',
                properties: {
                  droplet_guid: { type: 'string' },
                  images_removed: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' }, state: { type: 'string' }, manifest_digest: { type: ['string', 'null'] } } } },
                },
              }),
              ...errors('NotFound', 'Conflict'),
            },
          },
        },
      },
      handler: async (request) => {
        const dropletGuid = dropletGuidOf(request);
        const removed = await admin.deleteDropletImages(dropletGuid);
        return { droplet_guid: dropletGuid, images_removed: removed.map((image) => ({ id: image.id, state: image.state, manifest_digest: image.manifestDigest })) };
      },
    },
  ];
}
