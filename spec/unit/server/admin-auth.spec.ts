/**
 * The `uaa-admin` auth strategy on a bare hapi server with the error translator, in front of a
 * stand-in guard: what the route learns of the admin, and how the guard's refusals reach the
 * client. The guard's own decisions are in spec/unit/auth/admin-guard.spec.ts; every admin route
 * refusing without a token or scope is in spec/integration/admin/admin-api.spec.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Hapi from '@hapi/hapi';
import type { AdminGuard } from '../../../src/auth/admin-guard.ts';
import type { UaaIdentity } from '../../../src/auth/uaa-identity.ts';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { ADMIN_AUTH } from '../../../src/routes/admin/admin-auth-strategy.ts';
import { registerAdminAuth } from '../../../src/server/admin-auth.ts';
import { registerOciErrorTranslator } from '../../../src/server/oci-error-translator.ts';

const ADMIN: UaaIdentity = { userId: 'f3b1c2d4-0000-4000-8000-000000000001', userName: 'ops-admin', scopes: ['openid', 'droplet_registry.admin'], accessToken: 'uaa-token' };

/** A server whose `GET /admin/whoami` answers the credentials it was given, behind a guard that answers `decide`. */
function adminServer(decide: (authorization: string | undefined) => Promise<UaaIdentity>): { server: Hapi.Server; asked: Array<string | undefined> } {
  const asked: Array<string | undefined> = [];
  const guard = {
    check: (authorization: string | undefined) => {
      asked.push(authorization);
      return decide(authorization);
    },
  } as unknown as AdminGuard;
  const server = Hapi.server();
  registerOciErrorTranslator(server);
  registerAdminAuth(server, guard);
  server.route({ method: 'GET', path: '/admin/whoami', options: { auth: ADMIN_AUTH }, handler: (request) => request.auth.credentials });
  return { server, asked };
}

describe('the admin auth strategy', () => {
  it("hands the route the identity the guard vouched for, asked with the Authorization header as sent", async () => {
    const { server, asked } = adminServer(async () => ADMIN);
    const res = await server.inject({ method: 'GET', url: '/admin/whoami', headers: { authorization: 'bearer eyJhbGciOi.payload.signature' } });
    assert.equal(res.statusCode, 200, res.payload);
    assert.deepEqual(JSON.parse(res.payload), { user: { id: ADMIN.userId, name: 'ops-admin' }, scope: ['openid', 'droplet_registry.admin'] });
    assert.ok(!res.payload.includes('uaa-token'), "the admin's UAA token is not handed on");
    assert.deepEqual(asked, ['bearer eyJhbGciOi.payload.signature']);
  });

  it('asks the guard with no header when none was sent', async () => {
    const { server, asked } = adminServer(async () => {
      throw new RegistryError('UNAUTHORIZED', 'admin endpoints need a UAA token with the droplet_registry.admin scope (Authorization: bearer …)');
    });
    await server.inject('/admin/whoami');
    assert.deepEqual(asked, [undefined]);
  });

  it("answers the guard's 401 with its message and challenge, as an OCI error", async () => {
    const challenge = 'Bearer realm="droplet-registry admin"';
    const { server } = adminServer(async () => {
      throw new RegistryError('UNAUTHORIZED', 'invalid UAA token', { headers: { 'WWW-Authenticate': challenge } });
    });
    const res = await server.inject({ method: 'GET', url: '/admin/whoami', headers: { authorization: 'bearer expired' } });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['www-authenticate'], challenge);
    assert.deepEqual(JSON.parse(res.payload), { errors: [{ code: 'UNAUTHORIZED', message: 'invalid UAA token' }] });
  });

  it("answers the guard's 403 naming the missing scope", async () => {
    const { server } = adminServer(async () => {
      throw new RegistryError('DENIED', 'admin endpoints need the droplet_registry.admin scope', { detail: { scope: 'droplet_registry.admin' } });
    });
    const res = await server.inject({ method: 'GET', url: '/admin/whoami', headers: { authorization: 'bearer developer' } });
    assert.equal(res.statusCode, 403);
    assert.deepEqual(JSON.parse(res.payload), { errors: [{ code: 'DENIED', message: 'admin endpoints need the droplet_registry.admin scope', detail: { scope: 'droplet_registry.admin' } }] });
  });

  it('answers 503 with Retry-After when UAA cannot be asked, not 401: the token may be fine', async () => {
    const { server } = adminServer(async () => {
      throw new RegistryError('UNAVAILABLE', 'UAA is unavailable', { retryAfter: 5 });
    });
    const res = await server.inject({ method: 'GET', url: '/admin/whoami', headers: { authorization: 'bearer fine' } });
    assert.equal(res.statusCode, 503);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal((JSON.parse(res.payload) as { errors: Array<{ code: string }> }).errors[0]?.code, 'UNAVAILABLE');
  });
});
