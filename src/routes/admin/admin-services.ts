/**
 * What the admin endpoints are built from, handed over by `main` through `createServer`: the
 * admin service's dependencies, and how the registry names itself in links.
 */
import type { Request } from '@hapi/hapi';
import type { AdminDependencies } from '../../admin/admin-service.ts';
import type { OriginSettings } from '../../auth/registry-origin.ts';
import { requestOrigin } from '../request-origin.ts';

export interface AdminServices extends AdminDependencies {
  /** How the registry names itself in links (PUBLIC_URL, else the request's Host). */
  readonly origin: OriginSettings;
}

/** The registry's URL as the caller reached it, for the links of an answer. */
export function baseUrl(request: Request, origin: OriginSettings): string {
  return requestOrigin(request, origin).url;
}

/** A timestamp in answers: ISO 8601, or null. */
export function isoTime(at: Date | null): string | null {
  return at === null ? null : at.toISOString();
}
