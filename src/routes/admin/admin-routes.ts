/**
 * Every `/admin` route: the operator's JSON API (behind the `uaa-admin` auth strategy) over the
 * admin service, and its OpenAPI document generated from these routes. Errors go out through the
 * OCI error translator, in the same body.
 */
import type { ServerRoute } from '@hapi/hapi';
import { AdminService } from '../../admin/admin-service.ts';
import type { AdminServices } from './admin-services.ts';
import { conversionRoutes } from './conversion-routes.ts';
import { gcRoute } from './gc-route.ts';
import { imageRoutes } from './image-routes.ts';
import { layerRoutes } from './layer-routes.ts';
import { withOpenApiDocument } from './openapi.ts';
import { rootfsRoutes } from './rootfs-routes.ts';
import { storageRoute } from './storage-route.ts';

export function adminRoutes(services: AdminServices): ServerRoute[] {
  const { origin, ...dependencies } = services;
  const admin = new AdminService(dependencies);
  return withOpenApiDocument([...layerRoutes(admin, origin), ...imageRoutes(admin, origin), ...conversionRoutes(admin, origin), ...rootfsRoutes(admin, origin), gcRoute(admin), storageRoute(admin)]);
}
