/**
 * `POST /admin/gc`: runs garbage collection now. A dry run unless `dry_run=false`: an operator
 * sees what would go before anything does. The report is the collector's, in snake_case like
 * the rest of the admin API.
 */
import type { ServerRoute } from '@hapi/hapi';
import { RegistryError } from '../../errors/registry-error.ts';
import { ADMIN_AUTH } from '../../server/admin-auth.ts';
import { AdminQuery } from './admin-params.ts';
import type { AdminServices } from './admin-services.ts';

export function gcRoute(services: AdminServices): ServerRoute {
  return {
    method: 'POST',
    path: '/admin/gc',
    options: { auth: ADMIN_AUTH },
    handler: async (request) => {
      const dryRun = new AdminQuery(request, ['dry_run']).boolean('dry_run', true);
      if (!services.gc) throw new RegistryError('UNAVAILABLE', 'garbage collection is not available in this registry');
      return snakeCaseKeys(await services.gc.collect({ dryRun }));
    },
  };
}

/** `{ imagesRemoved: [{ dropletGuid }] }` → `{ images_removed: [{ droplet_guid }] }`, all the way down. */
function snakeCaseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseKeys);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`), snakeCaseKeys(item)]));
}
