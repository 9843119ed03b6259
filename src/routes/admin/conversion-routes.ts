/**
 * `/admin/conversions`: conversion attempts in flight (`running`) and how recent ones ended, with
 * the failure reason.
 */
import type { ServerRoute } from '@hapi/hapi';
import { CONVERSION_STATES, type AdminService, type ConversionState } from '../../admin/admin-service.ts';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { listBody, pageRequest } from './admin-pagination.ts';
import { baseUrl, isoTime } from './admin-services.ts';
import { adminValidation, dropletGuid, oneOf, pageParameters } from './admin-validation.ts';
import { answer, errors, listOf } from './openapi-components.ts';

export function conversionRoutes(admin: AdminService, origin: OriginSettings): ServerRoute[] {
  return [
    {
      method: 'GET',
      path: '/admin/conversions',
      options: {
        auth: ADMIN_AUTH,
        id: 'listConversions',
        description: 'Conversion attempts, most recently started first: running ones and how recent ones ended',
        validate: adminValidation({
          query: { state: oneOf(CONVERSION_STATES).description('Only attempts in this state'), droplet_guid: dropletGuid().description('Only attempts for this droplet'), ...pageParameters },
        }),
        plugins: { openapi: { responses: { '200': answer('One page of conversions', listOf('Conversion')), ...errors() } } },
      },
      handler: async (request) => {
        const query = request.query as { state?: ConversionState; droplet_guid?: string };
        const page = pageRequest(request);
        const { total, rows } = await admin.listConversions({ state: query.state, dropletGuid: query.droplet_guid }, page);
        const base = baseUrl(request, origin);
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
