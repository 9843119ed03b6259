import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AdminGuard } from '../../../src/auth/admin-guard.ts';
import type { UaaIdentity } from '../../../src/auth/uaa-identity.ts';
import type { UaaTokenVerifier } from '../../../src/auth/uaa-token-verifier.ts';
import { RegistryError } from '../../../src/errors/registry-error.ts';

const ADMIN: UaaIdentity = { userId: 'u-1', userName: 'admin', scopes: ['cloud_controller.read', 'droplet_registry.admin'], accessToken: 'admin-token' };

/** A verifier that knows two tokens and finds UAA down for a third. */
const verifier = {
  async verify(token: string): Promise<UaaIdentity> {
    if (token === 'admin-token') return ADMIN;
    if (token === 'user-token') return { ...ADMIN, userName: 'sam', scopes: ['cloud_controller.read'] };
    if (token === 'uaa-down') throw new RegistryError('UNAVAILABLE', 'UAA is unreachable');
    throw new RegistryError('UNAUTHORIZED', 'bad token');
  },
} as unknown as UaaTokenVerifier;

const refusal = (code: string) => (error: unknown) => error instanceof RegistryError && error.code === code;

describe('admin guard', () => {
  const guard = new AdminGuard({ verifier, scope: 'droplet_registry.admin' });

  it('admits a UAA token with the admin scope', async () => {
    assert.deepEqual(await guard.check('bearer admin-token'), ADMIN);
  });

  it('refuses no token or a bad one with 401, a token without the scope with 403, and says when UAA is down', async () => {
    await assert.rejects(guard.check(undefined), (error: unknown) => refusal('UNAUTHORIZED')(error) && (error as RegistryError).headers['WWW-Authenticate'] !== undefined);
    await assert.rejects(guard.check('Basic YWRtaW46cGFzcw=='), refusal('UNAUTHORIZED'));
    await assert.rejects(guard.check('bearer forged'), refusal('UNAUTHORIZED'));
    await assert.rejects(guard.check('bearer user-token'), refusal('DENIED'));
    await assert.rejects(guard.check('bearer uaa-down'), refusal('UNAVAILABLE'));
  });

  it('is closed without a UAA to check tokens against', async () => {
    await assert.rejects(new AdminGuard({ verifier: undefined, scope: 'droplet_registry.admin' }).check('bearer admin-token'), refusal('UNAUTHORIZED'));
  });
});
