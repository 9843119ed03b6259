/**
 * `GET /admin/storage`: what the registry's blobs take in its blobstore against the storage
 * budget (STORAGE_BUDGET_BYTES), as conversions see it: at or over the budget they are refused
 * and garbage collection evicts the least recently pulled images.
 */
import type { ServerRoute } from '@hapi/hapi';
import type { AdminService } from '../../admin/admin-service.ts';
import { ADMIN_AUTH } from './admin-auth-strategy.ts';
import { adminValidation } from './admin-validation.ts';
import { answer, errors, ref } from './openapi-components.ts';

export function storageRoute(admin: AdminService): ServerRoute {
  return {
    method: 'GET',
    path: '/admin/storage',
    options: {
      auth: ADMIN_AUTH,
      id: 'getStorageUsage',
      description: "Bytes and number of the registry's blobs against the storage budget (read at most a few seconds ago)",
      validate: adminValidation({}),
      plugins: { openapi: { responses: { '200': answer('Usage against the budget', ref('StorageUsage')), ...errors('Unavailable') } } },
    },
    handler: async () => {
      const { usedBytes, blobCount, budgetBytes } = await admin.storageUsage();
      const budgeted = budgetBytes > 0;
      return {
        used_bytes: usedBytes,
        blob_count: blobCount,
        budget_bytes: budgeted ? budgetBytes : null,
        available_bytes: budgeted ? Math.max(0, budgetBytes - usedBytes) : null,
        over_budget: budgeted && usedBytes >= budgetBytes,
      };
    },
  };
}
