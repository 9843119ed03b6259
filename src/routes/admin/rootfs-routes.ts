/**
 * `/admin/rootfs`: the stack tarballs, foundation rootfs files and lifecycle files (versions)
 * imported as layers, and which of them the registry builds new images on now.
 */
import type { ServerRoute } from '@hapi/hapi';
import type { AdminService } from '../../admin/admin-service.ts';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { listBody, pageRequest } from './admin-pagination.ts';
import { baseUrl, isoTime } from './admin-services.ts';
import { adminValidation, oneOf, pageParameters } from './admin-validation.ts';
import { answer, errors, listOf } from './openapi-components.ts';

export function rootfsRoutes(admin: AdminService, origin: OriginSettings): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/rootfs',
      options: {
        auth: ADMIN_AUTH,
        id: 'listImportedRootfs',
        description: 'Rootfs and lifecycle files imported as layers (one per version), newest import first; current says which ones new images are built on',
        validate: adminValidation({ query: { kind: oneOf(['rootfs', 'foundation', 'lifecycle']).description('Only files of this kind'), ...pageParameters } }),
        plugins: { openapi: { responses: { '200': answer('One page of imported files', listOf('ImportedLayer')), ...errors() } } },
      },
      handler: async (request) => {
        const { kind } = request.query as { kind?: 'rootfs' | 'foundation' | 'lifecycle' };
        const page = pageRequest(request);
        const { total, rows } = await admin.listImportedLayers({ kind }, page);
        const base = baseUrl(request, origin);
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
            current: imported.current,
            links: { layer: { href: `${base}/admin/layers/${imported.layerDigest}` } },
          })),
        );
      },
    },
  ];
}
