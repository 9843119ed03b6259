/**
 * The token endpoint as registry clients call it, against the simulator's UAA and Cloud
 * Controller: challenges, docker login, pulls' token requests, containerd's POST, UAA tokens as
 * passwords (and every defect they may have), failures, throttling and cached decisions.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ServerInjectOptions } from '@hapi/hapi';
import { decodeJwt } from 'jose';
import type { IssueTokenOptions } from '../../support/cf-simulator/index.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { basic, ociError, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from './auth-world.ts';

const HOST = '127.0.0.1:0';
const CHALLENGE = `Bearer realm="http://${HOST}/v2/token",service="${HOST}"`;

describe('token endpoint', () => {
  let world: AuthWorld;
  let registry: TestRegistry;

  const inject = (options: ServerInjectOptions | string) => registry.registry.server.inject(options);
  const developer = () => world.seed.users.space_developer;

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry({ LOGIN_FAILURES_LIMIT: '100' });
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  beforeEach(() => {
    world.cf.faults.reset();
    world.cf.requests.reset();
  });

  describe('challenges', () => {
    it('answers /v2/ and repository endpoints without a token with 401 and where to get one', async () => {
      const base = await inject('/v2/');
      assert.equal(base.statusCode, 401);
      assert.equal(base.headers['www-authenticate'], CHALLENGE);
      assert.equal(ociError(base).code, 'UNAUTHORIZED');
      assert.equal(base.headers['docker-distribution-api-version'], 'registry/2.0');
      for (const path of [`/v2/${WEB}/manifests/latest`, `/v2/${WEB}/blobs/sha256:${'0'.repeat(64)}`, `/v2/${WEB}/tags/list`, `/v2/${WEB}/referrers/sha256:${'0'.repeat(64)}`]) {
        const res = await inject(path);
        assert.equal(res.statusCode, 401, path);
        assert.equal(res.headers['www-authenticate'], `${CHALLENGE},scope="repository:${WEB}:pull"`, path);
      }
    });

    it('names the realm as the gorouter forwards the request, or as PUBLIC_URL says', async () => {
      const forwarded = await inject({ url: '/v2/', headers: { host: 'registry.sys.example.com', 'x-forwarded-proto': 'https' } });
      assert.equal(forwarded.headers['www-authenticate'], 'Bearer realm="https://registry.sys.example.com/v2/token",service="registry.sys.example.com"');
      const configured = await world.openRegistry({ PUBLIC_URL: 'https://registry.example.org', TOKEN_SERVICE: 'cf-registry' });
      try {
        const res = await configured.registry.server.inject({ url: '/v2/', headers: { host: 'internal:8080' } });
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="https://registry.example.org/v2/token",service="cf-registry"');
        const token = tokenOf(await configured.registry.server.inject(tokenRequest(developer())));
        assert.deepEqual([decodeJwt(token).iss, decodeJwt(token).aud], ['https://registry.example.org', 'cf-registry']);
      } finally {
        await configured.close();
      }
    });

    it('answers writes 405 UNSUPPORTED before asking for credentials', async () => {
      for (const [method, path] of [['PUT', `/v2/${WEB}/manifests/latest`], ['POST', `/v2/${WEB}/blobs/uploads/`], ['DELETE', `/v2/${WEB}/manifests/latest`], ['PATCH', '/v2/']]) {
        const res = await inject({ method: method as string, url: path as string });
        assert.equal(res.statusCode, 405, `${method} ${path}`);
        assert.equal(ociError(res).code, 'UNSUPPORTED');
      }
    });
  });

  describe('GET /v2/token', () => {
    it("answers docker login's request with a token that opens /v2/, and never a refresh token", async () => {
      const res = await inject({
        url: `/v2/token?account=${developer().username}&client_id=docker&offline_token=true&service=${encodeURIComponent(HOST)}`,
        headers: { authorization: basic(developer().username, developer().password) },
      });
      assert.equal(res.statusCode, 200, res.payload);
      const body = JSON.parse(res.payload) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['access_token', 'expires_in', 'issued_at', 'token']);
      assert.equal(body.access_token, body.token);
      assert.equal(body.expires_in, 300);
      assert.ok(!Number.isNaN(Date.parse(String(body.issued_at))));
      assert.equal(res.headers['cache-control'], 'no-store');
      const claims = decodeJwt(String(body.token));
      assert.equal(claims.sub, developer().guid);
      assert.equal(claims.user_name, developer().username);
      assert.deepEqual(claims.access, []);
      const base = await inject({ url: '/v2/', headers: { authorization: `Bearer ${String(body.token)}` } });
      assert.equal(base.statusCode, 200);
      assert.equal(base.payload, '{}');
    });

    it('grants pull for repeated scopes, and pull at most when push or * is asked', async () => {
      const other = 'acme/development/legacy';
      const token = tokenOf(await inject(tokenRequest(developer(), [`repository:${WEB}:pull,push`, `repository:${other}:*`, 'registry:catalog:*'])));
      assert.deepEqual(decodeJwt(token).access, [
        { type: 'repository', name: WEB, actions: ['pull'], app_guid: world.seed.apps.web.guid },
        { type: 'repository', name: other, actions: ['pull'], app_guid: world.seed.apps.legacy.guid },
      ]);
      assert.equal((await inject({ url: `/v2/${other}/tags/list`, headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    });

    it('refuses requests without credentials, and bad ones, with 401 UNAUTHORIZED', async () => {
      const anonymous = await inject(`/v2/token?scope=repository:${WEB}:pull&service=${HOST}`);
      assert.equal(anonymous.statusCode, 401);
      assert.equal(ociError(anonymous).code, 'UNAUTHORIZED');
      assert.equal(anonymous.headers['www-authenticate'], CHALLENGE);
      const wrong = await inject(tokenRequest({ username: developer().username, password: 'wrong' }, [`repository:${WEB}:pull`]));
      assert.equal(wrong.statusCode, 401);
      assert.equal(ociError(wrong).code, 'UNAUTHORIZED');
      assert.equal(wrong.headers['www-authenticate'], CHALLENGE);
      assert.equal(ociError(wrong).message, 'invalid Cloud Foundry username or password, or an invalid UAA token');
      const stranger = await inject(tokenRequest({ username: 'nobody', password: 'whatever' }));
      assert.equal(stranger.statusCode, 401);
    });

    it('answers 503 UNAVAILABLE with Retry-After when UAA fails, and tells operators when it refuses the login client', async () => {
      world.cf.faults.failNext(1, 503, { server: 'uaa', route: 'POST /oauth/token' });
      const down = await inject(tokenRequest(developer()));
      assert.equal(down.statusCode, 503);
      assert.equal(ociError(down).code, 'UNAVAILABLE');
      assert.ok(Number(down.headers['retry-after']) > 0);
      const misconfigured = await world.openRegistry({ UAA_LOGIN_CLIENT_SECRET: 'not-the-secret' });
      try {
        const refused = await misconfigured.registry.server.inject(tokenRequest(developer()));
        assert.equal(refused.statusCode, 503, refused.payload);
        assert.ok(misconfigured.events.includes('uaa.login_client_refused'));
      } finally {
        await misconfigured.close();
      }
    });

    it('asks Cloud Controller once per user and app within AUTH_DECISION_TTL_MS', async () => {
      const scope = [`repository:${WEB}:pull`];
      tokenOf(await inject(tokenRequest(world.seed.users.space_manager, scope)));
      tokenOf(await inject(tokenRequest(world.seed.users.space_manager, scope)));
      assert.equal(world.cf.requests.count('GET /v3/droplets/:guid/download'), 1);
      tokenOf(await inject(tokenRequest(world.seed.users.space_auditor, scope)));
      assert.equal(world.cf.requests.count('GET /v3/droplets/:guid/download'), 2, 'another user is asked about');
      const download = world.cf.requests.list('capi').find((request) => request.route === 'GET /v3/droplets/:guid/download');
      assert.ok(download?.hadAuthorization && download.status === 302, "asked with the user's token, the redirect not followed");
      assert.equal(world.cf.requests.count('GET <unmatched>'), 0);
      assert.equal(world.cf.requests.list('blobstore').length, 0, 'the droplet is not downloaded to decide');
    });
  });

  describe('POST /v2/token (containerd)', () => {
    const form = (fields: Record<string, string>): ServerInjectOptions => ({
      method: 'POST',
      url: '/v2/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });

    it('issues a token for the password grant, for space-separated scopes', async () => {
      const res = await inject(
        form({ grant_type: 'password', username: developer().username, password: developer().password, scope: `repository:${WEB}:pull repository:acme/development/legacy:pull`, service: HOST, client_id: 'containerd-client' }),
      );
      const token = tokenOf(res);
      assert.ok(!('refresh_token' in JSON.parse(res.payload)));
      assert.equal((decodeJwt(token).access as unknown[]).length, 2);
      assert.equal((await inject({ url: `/v2/${WEB}/manifests/latest`, headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    });

    it('answers other grant types 400 in OAuth terms (containerd then falls back to GET), and bad passwords 401', async () => {
      const refresh = await inject(form({ grant_type: 'refresh_token', refresh_token: 'x', service: HOST, client_id: 'containerd-client' }));
      assert.equal(refresh.statusCode, 400);
      assert.equal(JSON.parse(refresh.payload).error, 'unsupported_grant_type');
      const incomplete = await inject(form({ grant_type: 'password', username: developer().username }));
      assert.equal(incomplete.statusCode, 400);
      assert.equal(JSON.parse(incomplete.payload).error, 'invalid_request');
      const json = await inject({ method: 'POST', url: '/v2/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":"password"}' });
      assert.equal(json.statusCode, 400);
      assert.equal(JSON.parse(json.payload).error, 'unsupported_grant_type');
      const wrong = await inject(form({ grant_type: 'password', username: developer().username, password: 'wrong' }));
      assert.equal(wrong.statusCode, 401);
      assert.equal(ociError(wrong).code, 'UNAUTHORIZED');
    });
  });

  describe('UAA tokens as passwords', () => {
    const asPassword = (accessToken: string, address: string) => ({
      ...tokenRequest({ username: 'anything', password: `bearer ${accessToken}` }, [`repository:${WEB}:pull`]),
      headers: { authorization: basic('anything', `bearer ${accessToken}`), 'x-forwarded-for': address },
    });

    it("accept a valid token (the user is the token's) and verify it locally, with UAA's keys and issuer fetched once", async () => {
      const accessToken = world.cf.uaa.issueToken({ clientId: 'cf', username: developer().username });
      const first = tokenOf(await inject(asPassword(accessToken, '10.1.0.1')));
      assert.equal(decodeJwt(first).sub, developer().guid);
      tokenOf(await inject(asPassword(world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.admin.username }), '10.1.0.1')));
      assert.equal(world.cf.requests.count('POST /oauth/token'), 0, 'no password grant: the token is checked locally');
      assert.ok(world.cf.requests.count('GET /token_keys') <= 1);
      assert.ok(world.cf.requests.count('GET /.well-known/openid-configuration') <= 1);
    });

    const defects: Array<[string, IssueTokenOptions]> = [
      ['that is unsigned (alg none)', { clientId: 'cf', username: 'space-developer', signing: 'none' }],
      ['signed with a key UAA never published', { clientId: 'cf', username: 'space-developer', signing: 'foreign-key' }],
      ['that expired', { clientId: 'cf', username: 'space-developer', claims: { exp: Math.floor(Date.now() / 1000) - 60 } }],
      ['for another audience', { clientId: 'cf', username: 'space-developer', claims: { aud: ['scim', 'uaa', 'cf'] } }],
      ['from another issuer', { clientId: 'cf', username: 'space-developer', claims: { iss: 'https://uaa.evil.example.com/oauth/token' } }],
      ['that is a refresh token', { clientId: 'cf', username: 'space-developer', claims: { jti: 'abc123-r' } }],
      ['without a jti', { clientId: 'cf', username: 'space-developer', claims: { jti: undefined } }],
    ];
    for (const [index, [defect, options]] of defects.entries()) {
      it(`refuse a token ${defect} with 401 UNAUTHORIZED`, async () => {
        const res = await inject(asPassword(world.cf.uaa.issueToken(options), `10.2.0.${index}`));
        assert.equal(res.statusCode, 401, res.payload);
        assert.equal(ociError(res).code, 'UNAUTHORIZED');
      });
    }
  });

  describe('throttling', () => {
    it('refuses a username, and an address, over LOGIN_FAILURES_LIMIT with 429 and Retry-After, without asking UAA', async () => {
      // Behind a load balancer (10.0.0.254) and the gorouter, which each append the address they saw.
      const throttled = await world.openRegistry({ LOGIN_FAILURES_LIMIT: '3', LOGIN_FAILURES_WINDOW_MS: '600000', TRUSTED_PROXY_HOPS: '2' });
      const from = (address: string, user: { username: string; password: string }) => ({ ...tokenRequest(user), headers: { ...tokenRequest(user).headers, 'x-forwarded-for': `${address}, 10.0.0.254` } });
      const login = (options: ServerInjectOptions) => throttled.registry.server.inject(options);
      try {
        const guesser = { username: developer().username, password: 'guess' };
        for (let i = 0; i < 3; i += 1) assert.equal((await login(from('192.0.2.1', guesser))).statusCode, 401);
        world.cf.requests.reset();
        const refused = await login(from('192.0.2.1', guesser));
        assert.equal(refused.statusCode, 429);
        assert.equal(ociError(refused).code, 'TOOMANYREQUESTS');
        assert.ok(Number(refused.headers['retry-after']) > 0 && Number(refused.headers['retry-after']) <= 600);
        assert.equal((await login(from('192.0.2.2', developer()))).statusCode, 429, 'the username, from another address, even with the right password');
        assert.equal((await login(from('192.0.2.1', world.seed.users.admin))).statusCode, 429, 'the address, for another user');
        assert.equal(world.cf.requests.count('POST /oauth/token'), 0, 'UAA was not asked');
        assert.equal((await login(from('192.0.2.3', world.seed.users.admin))).statusCode, 200, 'others log in');
        assert.ok(throttled.events.includes('login.throttled'));
      } finally {
        await throttled.close();
      }
    });
  });
});
