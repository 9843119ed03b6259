/**
 * `/admin/conversions`: conversion attempts in flight (`running`) and how recent ones ended, with
 * the failure reason.
 */
import type { ServerRoute } from '@hapi/hapi';
import { CONVERSION_STATES, listAdminConversions } from '../../db/queries/admin-conversions.ts';
import { ADMIN_AUTH } from '../../server/admin-auth.ts';
import { listBody } from './admin-pagination.ts';
import { AdminQuery } from './admin-params.ts';
import { baseUrl, isoTime, type AdminServices } from './admin-services.ts';

export function conversionRoutes(services: AdminServices): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/conversions',
      options: { auth: ADMIN_AUTH },
      handler: async (request) => {
        const query = new AdminQuery(request, ['state', 'droplet_guid'], { paged: true });
        const filter = { state: query.oneOf('state', CONVERSION_STATES), dropletGuid: query.dropletGuid('droplet_guid') };
        const page = query.page();
        const { total, rows } = await listAdminConversions(services.db, filter, page);
        const base = baseUrl(request, services);
        return listBody(
          request,
          base,
          page,
          total,
          rows.map((conversion) => ({
            id: conversion.id,
            image_id: conversion.imageId,
            droplet_guid: conversion.dropletGuid,
            app_guid: conversion.appGuid,
            instance: conversion.instance,
            state: conversion.state,
            error: conversion.error,
            started_at: isoTime(conversion.startedAt),
            finished_at: isoTime(conversion.finishedAt),
            duration_ms: conversion.finishedAt === null ? null : conversion.finishedAt.getTime() - conversion.startedAt.getTime(),
            bytes_in: conversion.bytesIn,
            bytes_out: conversion.bytesOut,
            links: { image: { href: `${base}/admin/images/${encodeURIComponent(conversion.dropletGuid)}` } },
          })),
        );
      },
    },
  ];
}
