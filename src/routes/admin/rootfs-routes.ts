/**
 * `/admin/rootfs`: the rootfs and lifecycle files (versions) imported as layers, and which of
 * them the registry builds new images on now.
 */
import type { ServerRoute } from '@hapi/hapi';
import { listImportedLayers } from '../../db/queries/admin-rootfs.ts';
import { ADMIN_AUTH } from '../../server/admin-auth.ts';
import { listBody } from './admin-pagination.ts';
import { AdminQuery } from './admin-params.ts';
import { baseUrl, isoTime, type AdminServices } from './admin-services.ts';

export function rootfsRoutes(services: AdminServices): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/rootfs',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        const query = new AdminQuery(request, ['kind'], { paged: true });
        const kind = query.oneOf('kind', ['rootfs', 'lifecycle'] as const);
        const page = query.page();
        const { total, rows } = await listImportedLayers(services.db, { kind }, page);
        const { rootfs, lifecycle } = services.baseLayers;
        const base = baseUrl(request, services);
        return listBody(
          request,
          base,
          page,
          total,
          rows.map((imported) => ({
            id: imported.id,
            kind: imported.kind,
            name: imported.name,
            path: imported.path,
            file_size: imported.fileSize,
            file_mtime: isoTime(imported.fileMtime),
            layer_digest: imported.layerDigest,
            layer_size: imported.layerSize,
            imported_at: isoTime(imported.importedAt),
            // The version new images are built on: the layer configured now for that stack (or the lifecycle).
            current: imported.kind === 'rootfs' ? rootfs.get(imported.name)?.digest === imported.layerDigest : lifecycle.digest === imported.layerDigest,
            links: { layer: { href: `${base}/admin/layers/${imported.layerDigest}` } },
          })),
        );
      },
    },
  ];
}
