/**
 * The `uaa-admin` hapi auth strategy for `/admin/*` routes (`options: { auth: ADMIN_AUTH }`):
 * a UAA token with the admin scope, checked by the admin guard. Its refusals are registry errors,
 * put on the wire by the error translator like every other.
 */
import type { Server } from '@hapi/hapi';
import type { AdminGuard } from '../auth/admin-guard.ts';
import { ADMIN_AUTH } from '../routes/admin/admin-auth-strategy.ts';
import { headerValue } from '../routes/request-origin.ts';

export function registerAdminAuth(server: Server, guard: AdminGuard): void {
  server.auth.scheme(ADMIN_AUTH, () => ({
    authenticate: async (request, h) => {
      const identity = await guard.check(headerValue(request, 'authorization'));
      return h.authenticated({ credentials: { user: { id: identity.userId, name: identity.userName }, scope: [...identity.scopes] } });
    },
  }));
  server.auth.strategy(ADMIN_AUTH, ADMIN_AUTH);
}
