/**
 * UAA's token endpoint, keys and discovery, and CAPI's token acceptance: every defect the registry
 * must refuse (unsigned, foreign key, expired, wrong audience or issuer, refresh token) is refused
 * by the simulated CC too, with CC's error bodies.
 */
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { CfSimulator, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, claimsOf, clientToken, requestToken, send, startSeeded, userToken } from './simulator-client.ts';

const INVALID_TOKEN = { errors: [{ detail: 'Invalid Auth Token', title: 'CF-InvalidAuthToken', code: 1000 }] };
const NOT_AUTHENTICATED = { errors: [{ detail: 'Authentication error', title: 'CF-NotAuthenticated', code: 10002 }] };
const BAD_CREDENTIALS = { error: 'unauthorized', error_description: 'Bad credentials' };

describe('cf-simulator UAA and token acceptance', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;

  before(async () => {
    ({ cf, seeded } = await startSeeded());
  });
  after(() => cf.stop());

  it('publishes its issuer and signing keys', async () => {
    const discovery = await send(`${cf.uaaUrl}/.well-known/openid-configuration`);
    assert.equal(discovery.body.issuer, `${cf.uaaUrl}/oauth/token`);
    assert.equal(discovery.body.jwks_uri, `${cf.uaaUrl}/token_keys`);
    const keys = await send(`${cf.uaaUrl}/token_keys`);
    assert.equal(keys.body.keys.length, 1);
    const [key] = keys.body.keys;
    assert.deepEqual(Object.keys(key).sort(), ['alg', 'e', 'kid', 'kty', 'n', 'use', 'value']);
    assert.deepEqual({ kid: key.kid, alg: key.alg, kty: key.kty, use: key.use, e: key.e }, { kid: 'key-1', alg: 'RS256', kty: 'RSA', use: 'sig', e: 'AQAB' });
    assert.match(key.value, /^-----BEGIN PUBLIC KEY-----\n/);
    const etag = keys.headers.get('etag') ?? '';
    assert.equal((await send(`${cf.uaaUrl}/token_keys`, { headers: { 'If-None-Match': etag } })).status, 304);
  });

  it('issues client_credentials tokens with UAA’s claims, verifiable with the published key', async () => {
    const reply = await requestToken(cf, seeded.serviceClient, { grant_type: 'client_credentials' });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.token_type, 'bearer');
    assert.equal(reply.body.scope, 'cloud_controller.admin_read_only');
    assert.equal(reply.body.expires_in, 43199);
    assert.equal('refresh_token' in reply.body, false);
    const token: string = reply.body.access_token;
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
    assert.deepEqual(header, { alg: 'RS256', jku: `${cf.uaaUrl}/token_keys`, kid: 'key-1', typ: 'JWT' });
    const claims = claimsOf(token);
    assert.equal(claims.jti, reply.body.jti);
    assert.equal(claims.sub, 'droplet_registry');
    assert.equal(claims.client_id, 'droplet_registry');
    assert.equal(claims.cid, 'droplet_registry');
    assert.equal(claims.grant_type, 'client_credentials');
    assert.deepEqual(claims.authorities, ['cloud_controller.admin_read_only']);
    assert.deepEqual(claims.scope, ['cloud_controller.admin_read_only']);
    assert.deepEqual(claims.aud, ['cloud_controller', 'droplet_registry']);
    assert.equal(claims.iss, `${cf.uaaUrl}/oauth/token`);
    assert.equal(claims.zid, 'uaa');
    assert.equal(claims.exp - claims.iat, 43200);
    assert.equal('user_id' in claims, false);
    const [jwk] = (await send(`${cf.uaaUrl}/token_keys`)).body.keys;
    const [headerPart, payloadPart, signature] = token.split('.') as [string, string, string];
    assert.ok(verify('RSA-SHA256', Buffer.from(`${headerPart}.${payloadPart}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(signature, 'base64url')));
  });

  it('accepts client credentials as form fields too', async () => {
    const reply = await send(`${cf.uaaUrl}/oauth/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: seeded.serviceClient.id, client_secret: seeded.serviceClient.secret }).toString(),
    });
    assert.equal(reply.status, 200);
  });

  it('issues password-grant tokens with the user’s claims and a -r refresh token', async () => {
    const developer = seeded.users.space_developer;
    const reply = await requestToken(cf, { id: 'cf', secret: '' }, { grant_type: 'password', username: developer.username, password: developer.password });
    assert.equal(reply.status, 200);
    assert.equal(reply.body.expires_in, 1199);
    const claims = claimsOf(reply.body.access_token);
    assert.equal(claims.user_id, developer.guid);
    assert.equal(claims.sub, developer.guid);
    assert.equal(claims.user_name, developer.username);
    assert.equal(claims.origin, 'uaa');
    assert.equal(claims.client_id, 'cf');
    assert.equal(claims.grant_type, 'password');
    assert.ok(claims.scope.includes('cloud_controller.read'));
    assert.ok(!claims.scope.includes('cloud_controller.admin'), 'only scopes the user’s groups allow');
    assert.ok(claims.aud.includes('cloud_controller'));
    const refresh = claimsOf(reply.body.refresh_token);
    assert.equal(refresh.jti, `${claims.jti}-r`);

    const admin = await userToken(cf, seeded.users.admin);
    assert.ok(claimsOf(admin).scope.includes('cloud_controller.admin'));

    const renewed = await requestToken(cf, { id: 'cf', secret: '' }, { grant_type: 'refresh_token', refresh_token: reply.body.refresh_token });
    assert.equal(renewed.status, 200);
    assert.equal(claimsOf(renewed.body.access_token).user_id, developer.guid);
  });

  it('answers bad credentials with UAA’s 401 body', async () => {
    const wrongSecret = await requestToken(cf, { id: seeded.serviceClient.id, secret: 'nope' }, { grant_type: 'client_credentials' });
    assert.equal(wrongSecret.status, 401);
    assert.deepEqual(wrongSecret.body, BAD_CREDENTIALS);
    assert.match(wrongSecret.headers.get('www-authenticate') ?? '', /^Basic realm="UAA\/client"/);
    const unknownClient = await requestToken(cf, { id: 'nobody', secret: 'x' }, { grant_type: 'client_credentials' });
    assert.equal(unknownClient.status, 401);
    const wrongPassword = await requestToken(cf, seeded.loginClient, { grant_type: 'password', username: seeded.users.admin.username, password: 'wrong' });
    assert.equal(wrongPassword.status, 401);
    assert.deepEqual(wrongPassword.body, BAD_CREDENTIALS);
    const wrongGrant = await requestToken(cf, seeded.serviceClient, { grant_type: 'password', username: 'admin', password: 'admin-password' });
    assert.deepEqual(wrongGrant.body, { error: 'invalid_client', error_description: 'Unauthorized grant type: password' });
    const inQuery = await send(`${cf.uaaUrl}/oauth/token?grant_type=client_credentials`, {
      method: 'POST',
      headers: { Authorization: `Basic ${Buffer.from(`${seeded.serviceClient.id}:${seeded.serviceClient.secret}`).toString('base64')}` },
    });
    assert.deepEqual(inQuery.body, { error: 'invalid_request', error_description: 'Parameters must be passed in the body of the request' });
  });

  it('accepts `bearer` in any case', async () => {
    const token = await clientToken(cf, seeded.serviceClient);
    for (const scheme of ['bearer', 'Bearer', 'BEARER']) {
      assert.equal((await capiGet(cf, '/v3/apps', undefined, { Authorization: `${scheme} ${token}` })).status, 200, scheme);
    }
  });

  it('answers 401 CF-NotAuthenticated without a bearer token', async () => {
    assert.deepEqual((await capiGet(cf, '/v3/apps')).body, NOT_AUTHENTICATED);
    const basic = await capiGet(cf, '/v3/apps', undefined, { Authorization: 'Basic YWRtaW46YWRtaW4=' });
    assert.equal(basic.status, 401);
    assert.deepEqual(basic.body, NOT_AUTHENTICATED);
  });

  it('answers 401 CF-InvalidAuthToken to every token defect', async () => {
    const now = Math.floor(Date.now() / 1000);
    const username = seeded.users.space_developer.username;
    const password = await requestToken(cf, { id: 'cf', secret: '' }, { grant_type: 'password', username, password: seeded.users.space_developer.password });
    const defects: Record<string, string> = {
      garbage: 'not-a-jwt',
      'alg none': cf.uaa.issueToken({ clientId: 'cf', username, signing: 'none' }),
      'foreign key under the active kid': cf.uaa.issueToken({ clientId: 'cf', username, signing: 'foreign-key' }),
      expired: cf.uaa.issueToken({ clientId: 'cf', username, claims: { iat: now - 3600, exp: now - 60 } }),
      'wrong audience': cf.uaa.issueToken({ clientId: 'cf', username, claims: { aud: ['scim', 'cf'] } }),
      'no audience': cf.uaa.issueToken({ clientId: 'cf', username, claims: { aud: undefined } }),
      'wrong issuer': cf.uaa.issueToken({ clientId: 'cf', username, claims: { iss: 'https://uaa.elsewhere.example/oauth/token' } }),
      'no jti': cf.uaa.issueToken({ clientId: 'cf', username, claims: { jti: undefined } }),
      'refresh token': password.body.refresh_token,
      'tampered claims': tamper(password.body.access_token, { user_id: seeded.users.admin.guid }),
    };
    for (const [defect, token] of Object.entries(defects)) {
      const reply = await capiGet(cf, '/v3/apps', token);
      assert.equal(reply.status, 401, defect);
      assert.deepEqual(reply.body, INVALID_TOKEN, defect);
    }
    assert.equal((await capiGet(cf, '/v3/apps', cf.uaa.issueToken({ clientId: 'cf', username }))).status, 200, 'the undamaged token is fine');
  });

  it('answers 403 CF-NotAuthorized to a valid token without a read scope', async () => {
    cf.uaa.addClient({ id: 'no-read', secret: 's', grantTypes: ['client_credentials'], authorities: ['cloud_controller.write'] });
    const reply = await capiGet(cf, '/v3/apps', await clientToken(cf, { id: 'no-read', secret: 's' }));
    assert.deepEqual(reply.body, { errors: [{ detail: 'You are not authorized to perform the requested action', title: 'CF-NotAuthorized', code: 10003 }] });
  });

  it('keeps verifying tokens of rotated keys until they are removed', async () => {
    const old = await clientToken(cf, seeded.serviceClient);
    const kid = cf.uaa.rotateKey();
    assert.equal(kid, 'key-2');
    const fresh = await clientToken(cf, seeded.serviceClient);
    assert.equal(JSON.parse(Buffer.from(fresh.split('.')[0] ?? '', 'base64url').toString('utf8')).kid, 'key-2');
    const keys = await send(`${cf.uaaUrl}/token_keys`);
    assert.deepEqual(keys.body.keys.map((key: { kid: string }) => key.kid), ['key-1', 'key-2']);
    assert.equal((await capiGet(cf, '/v3/apps', old)).status, 200);
    cf.uaa.removeKey('key-1');
    assert.equal((await capiGet(cf, '/v3/apps', old)).status, 401);
    assert.equal((await capiGet(cf, '/v3/apps', fresh)).status, 200);
  });

  it('issues tokens as short-lived as a test needs', async () => {
    cf.uaa.setAccessTokenValidity(seeded.serviceClient.id, 5);
    try {
      const reply = await requestToken(cf, seeded.serviceClient, { grant_type: 'client_credentials' });
      assert.equal(reply.body.expires_in, 4);
      const claims = claimsOf(reply.body.access_token);
      assert.equal(claims.exp - claims.iat, 5);
    } finally {
      cf.uaa.setAccessTokenValidity(seeded.serviceClient.id, 43200);
    }
  });
});

/** The token with its payload changed but the original signature kept. */
function tamper(token: string, changes: Record<string, unknown>): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const claims = { ...JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')), ...changes };
  return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
}
