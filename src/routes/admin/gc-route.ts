/**
 * `POST /admin/gc`: runs garbage collection now. A dry run unless `dry_run=false`: an operator
 * sees what would go before anything does. The report is the collector's, in snake_case like
 * the rest of the admin API.
 */
import type { ServerRoute } from '@hapi/hapi';
import Joi from 'joi';
import type { AdminService } from '../../admin/admin-service.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { adminValidation } from './admin-validation.ts';
import { answer, errors, ref } from './openapi-components.ts';

export function gcRoute(admin: AdminService): ServerRoute {
  return {
    method: 'POST',
    path: '/admin/gc',
    options: {
      auth: ADMIN_AUTH,
      id: 'collectGarbage',
      description: 'Runs garbage collection now; a dry run (nothing removed, the report says what would be) unless dry_run=false',
      validate: adminValidation({ query: { dry_run: Joi.boolean().default(true).description('false: really remove') } }),
      plugins: { openapi: { responses: { '200': answer('What was (or would be) removed', ref('GcReport')), ...errors('Unavailable') } } },
    },
    handler: async (request) => snakeCaseKeys(await admin.collectGarbage({ dryRun: (request.query as { dry_run: boolean }).dry_run })),
  };
}

/** `{ imagesRemoved: [{ dropletGuid }] }` → `{ images_removed: [{ droplet_guid }] }`, all the way down. */
function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`), snakeCaseKeys(item)]));
}
