/**
 * Every `/admin` route: the operator's JSON API (behind the `uaa-admin` auth strategy) and its
 * OpenAPI document. Errors go out through the OCI error translator, in the same body.
 */
import type { ServerRoute } from '@hapi/hapi';
import type { AdminServices } from './admin-services.ts';
import { conversionRoutes } from './conversion-routes.ts';
import { gcRoute } from './gc-route.ts';
import { imageRoutes } from './image-routes.ts';
import { layerRoutes } from './layer-routes.ts';
import { openApiRoute } from './openapi.ts';
import { rootfsRoutes } from './rootfs-routes.ts';

export function adminRoutes(services: AdminServices): ServerRoute[] {
  return [...layerRoutes(services), ...imageRoutes(services), ...conversionRoutes(services), ...rootfsRoutes(services), gcRoute(services), openApiRoute()];
}
