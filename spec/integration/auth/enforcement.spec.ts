/**
 * What the registry enforces with the tokens it issued: repository by repository, blob by blob,
 * against forged and foreign tokens, across instances sharing keys; the admin guard; start-up
 * without a usable key; and that no credential ever reaches a log or an error body.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose';
import { ADMIN_AUTH } from '../../../src/routes/admin/admin-auth-strategy.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { basic, ociError, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from './auth-world.ts';

const FAILING = 'acme/development/failing';

describe('enforcement', () => {
  let world: AuthWorld;
  let registry: TestRegistry;
  let webToken: string;

  const get = (url: string, token: string, target = registry) => target.registry.server.inject({ url, headers: { authorization: `Bearer ${token}` } });
  const keyOf = (file: string) => createPrivateKey(readFileSync(file));
  const kidOf = async (file: string) => calculateJwkThumbprint(await exportJWK(keyOf(file)));

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry();
    webToken = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`])));
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  describe('blobs', () => {
    it("serve another app's blob to no one through this repository, and challenge for the other repository", async () => {
      const both = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`, `repository:${FAILING}:pull`])));
      const failing = JSON.parse((await get(`/v2/${FAILING}/manifests/latest`, both)).payload) as { layers: Array<{ digest: string }> };
      const dropletLayer = failing.layers[2]?.digest as string;
      assert.equal((await get(`/v2/${FAILING}/blobs/${dropletLayer}`, both)).statusCode, 200);
      for (const token of [webToken, both]) {
        const crossed = await get(`/v2/${WEB}/blobs/${dropletLayer}`, token);
        assert.equal(crossed.statusCode, 404);
        assert.equal(ociError(crossed).code, 'BLOB_UNKNOWN');
      }
      const elsewhere = await get(`/v2/${FAILING}/blobs/${dropletLayer}`, webToken);
      assert.equal(elsewhere.statusCode, 401, 'a token for another repository');
      assert.match(String(elsewhere.headers['www-authenticate']), new RegExp(`scope="repository:${FAILING}:pull"$`));
    });
  });

  describe('registry tokens', () => {
    it('are refused when unsigned, signed with another key, expired, or for another registry', async () => {
      const claims = decodeJwt(webToken);
      const kid = decodeProtectedHeader(webToken).kid as string;
      const now = Math.floor(Date.now() / 1000);
      const sign = (payload: typeof claims, file: string, keyId: string) => new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: keyId }).sign(keyOf(file));
      const forged: Record<string, string> = {
        'alg none': `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${webToken.split('.')[1]}.`,
        'a foreign key under our kid': await sign(claims, world.foreignKey, kid),
        'a foreign key under its own kid': await sign(claims, world.foreignKey, await kidOf(world.foreignKey)),
        'expired, though well signed': await sign({ ...claims, iat: now - 900, nbf: now - 900, exp: now - 600 }, world.keys[0] as string, kid),
        'for another service': await sign({ ...claims, aud: 'other-registry.example.com' }, world.keys[0] as string, kid),
        'from another issuer': await sign({ ...claims, iss: 'https://other-registry.example.com' }, world.keys[0] as string, kid),
      };
      assert.equal((await get(`/v2/${WEB}/manifests/latest`, await sign(claims, world.keys[0] as string, kid))).statusCode, 200, 'the control: re-signed as is');
      for (const [defect, token] of Object.entries(forged)) {
        for (const path of ['/v2/', `/v2/${WEB}/manifests/latest`]) {
          const res = await get(path, token);
          assert.equal(res.statusCode, 401, `${defect} ${path}`);
          assert.equal(ociError(res).code, 'UNAUTHORIZED');
        }
      }
    });

    it('are accepted by every instance holding the key, so a key can be rotated', async () => {
      const rotated = await world.openRegistry({ TOKEN_SIGNING_KEYS: `${world.keys[1]},${world.keys[0]}` });
      try {
        assert.equal((await get(`/v2/${WEB}/tags/list`, webToken, rotated)).statusCode, 200, 'the new instance accepts tokens of the old key');
        const fromRotated = tokenOf(await rotated.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`])));
        assert.equal(decodeProtectedHeader(fromRotated).kid, await kidOf(world.keys[1] as string), 'the first key signs');
        assert.equal((await get(`/v2/${WEB}/tags/list`, fromRotated, rotated)).statusCode, 200);
        assert.equal((await get(`/v2/${WEB}/tags/list`, fromRotated)).statusCode, 401, 'an instance without the new key refuses its tokens');
      } finally {
        await rotated.close();
      }
    });
  });

  describe('start-up', () => {
    it('refuses to start without a readable signing key, naming TOKEN_SIGNING_KEYS', async () => {
      await assert.rejects(world.openRegistry({ TOKEN_SIGNING_KEYS: '/nonexistent/key.pem' }), /TOKEN_SIGNING_KEYS: cannot read \/nonexistent\/key\.pem/);
    });
  });

  describe('admin endpoints', () => {
    before(() => {
      registry.registry.server.route({
        method: 'GET',
        path: '/admin/whoami',
        options: { auth: ADMIN_AUTH },
        handler: (request) => ({ user: request.auth.credentials.user }),
      });
    });

    it('need a UAA token with the admin scope', async () => {
      const call = (authorization?: string) => registry.registry.server.inject({ url: '/admin/whoami', headers: authorization ? { authorization } : {} });
      const admin = world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.admin.username });
      const ok = await call(`bearer ${admin}`);
      assert.equal(ok.statusCode, 200, ok.payload);
      assert.equal(JSON.parse(ok.payload).user.name, 'admin');

      const anonymous = await call();
      assert.equal(anonymous.statusCode, 401);
      assert.equal(ociError(anonymous).code, 'UNAUTHORIZED');
      assert.match(String(anonymous.headers['www-authenticate']), /^Bearer /);
      const developer = await call(`bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.space_developer.username })}`);
      assert.equal(developer.statusCode, 403, 'a valid token without the scope');
      assert.equal(ociError(developer).code, 'DENIED');
      const readOnly = await call(`bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.admin_read_only.username })}`);
      assert.equal(readOnly.statusCode, 403, 'admin_read_only is not admin');
      for (const [what, authorization] of [
        ['a registry token', `Bearer ${webToken}`],
        ['an expired admin token', `bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: 'admin', claims: { exp: Math.floor(Date.now() / 1000) - 1 } })}`],
        ['an unsigned admin token', `bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: 'admin', signing: 'none' })}`],
        ['Basic credentials', basic('admin', world.seed.users.admin.password)],
      ] as const) {
        assert.equal((await call(authorization)).statusCode, 401, what);
      }
    });
  });

  describe('secrets', () => {
    it('never appear in logs or error bodies', async () => {
      const users = world.seed.users;
      const uaaToken = world.cf.uaa.issueToken({ clientId: 'cf', username: users.space_auditor.username });
      const secrets = [...Object.values(users).map((user) => user.password), world.seed.loginClient.secret, world.seed.serviceClient.secret, uaaToken, webToken];
      const bodies: string[] = [];
      const server = registry.registry.server;
      const collect = async (response: Promise<{ payload: string }>) => bodies.push((await response).payload);
      await collect(server.inject(tokenRequest(users.space_developer, [`repository:${WEB}:pull`])));
      await collect(server.inject(tokenRequest({ username: users.space_developer.username, password: users.space_supporter.password }, [`repository:${WEB}:pull`])));
      await collect(server.inject(tokenRequest({ username: 'x', password: `bearer ${uaaToken}` }, [`repository:${WEB}:pull`])));
      await collect(server.inject(tokenRequest({ username: 'x', password: `bearer ${uaaToken}x` })));
      await collect(
        server.inject({
          method: 'POST',
          url: '/v2/token',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload: new URLSearchParams({ grant_type: 'password', username: users.org_manager.username, password: users.org_manager.password, scope: `repository:${WEB}:pull` }).toString(),
        }),
      );
      await collect(get(`/v2/${WEB}/manifests/latest`, webToken));
      await collect(get(`/v2/${WEB}/manifests/latest`, `${webToken}x`));
      world.cf.faults.failNext(1, 503, { route: 'GET /v3/droplets/:guid/download' });
      await collect(server.inject(tokenRequest(users.space_manager, [`repository:${WEB}:pull`])));
      world.cf.faults.failNext(1, 503, { server: 'uaa', route: 'POST /oauth/token' });
      await collect(server.inject(tokenRequest(users.org_manager, [`repository:${WEB}:pull`])));

      const logs = JSON.stringify(registry.logs);
      assert.ok(registry.events.includes('login.failed') && registry.events.includes('upstream.failed'), 'the failures were logged');
      for (const secret of secrets) {
        assert.ok(!logs.includes(secret), `a secret in the logs: ${secret.slice(0, 12)}…`);
        for (const body of bodies.filter((payload) => !payload.startsWith('{"token"'))) assert.ok(!body.includes(secret), `a secret in an error body: ${body}`);
      }
      assert.doesNotMatch(logs, /eyJ[\w-]+\.eyJ/, 'no JWT of any kind in the logs');
    });
  });
});
