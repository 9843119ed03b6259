import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose';
import { RegistryTokens, type Grant } from '../../../src/auth/registry-tokens.ts';
import type { RegistryOrigin } from '../../../src/auth/registry-origin.ts';
import { tokenKeys } from '../../../src/auth/signing-keys.ts';

const ORIGIN: RegistryOrigin = { url: 'https://registry.sys.example.com', service: 'registry.sys.example.com' };
const GRANT: Grant = {
  subject: '3ef236d6-ffec-4f7b-b341-b0eb52c206b7',
  userName: 'alice',
  access: [{ name: 'acme/development/web', appGuid: '6064d98a-95e6-400b-bc03-be65e6d59622' }],
  denied: [{ name: 'acme/production/api', reason: 'not_found' }],
};
const T0 = Date.parse('2025-01-01T12:00:00Z');

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const [keyA, keyB, foreign] = [newKey(), newKey(), newKey()];

async function tokensWith(keys = [keyA], options: { ttlSeconds?: number; now?: () => number } = {}) {
  return new RegistryTokens({ keys: await tokenKeys(keys), ttlSeconds: options.ttlSeconds ?? 300, now: options.now ?? (() => T0) });
}

/** The same claims, re-signed by hand (to forge headers and keys the registry never uses). */
function forge(token: string) {
  const claims = decodeJwt(token);
  return {
    claims,
    signedWith: (key: ReturnType<typeof newKey>, kid: string) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).sign(key),
    unsigned: () => `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`,
  };
}

describe('registry tokens', () => {
  it('are ES256 JWTs naming their key, the registry, the user and what they grant and refuse', async () => {
    const tokens = await tokensWith();
    const issued = await tokens.issue(GRANT, ORIGIN);
    assert.equal(issued.expiresIn, 300);
    assert.equal(issued.issuedAt, '2025-01-01T12:00:00.000Z');
    const header = decodeProtectedHeader(issued.token);
    assert.equal(header.alg, 'ES256');
    assert.equal(header.kid, await calculateJwkThumbprint(await exportJWK(createPublicKey(keyA))), 'the kid is the JWK thumbprint');
    const claims = decodeJwt(issued.token);
    assert.equal(claims.iss, ORIGIN.url);
    assert.equal(claims.aud, ORIGIN.service);
    assert.equal(claims.sub, GRANT.subject);
    assert.equal(claims.user_name, 'alice');
    assert.deepEqual(claims.access, [{ type: 'repository', name: 'acme/development/web', actions: ['pull'], app_guid: '6064d98a-95e6-400b-bc03-be65e6d59622' }]);
    assert.deepEqual(claims.denied, [{ name: 'acme/production/api', reason: 'not_found' }]);
    assert.equal(claims.iat, T0 / 1000);
    assert.equal(claims.nbf, T0 / 1000);
    assert.equal(claims.exp, T0 / 1000 + 300);
    assert.equal(typeof claims.jti, 'string');
    assert.deepEqual(await tokens.verify(issued.token, ORIGIN), GRANT);
  });

  it('refuses unsigned tokens (alg none)', async () => {
    const tokens = await tokensWith();
    const { unsigned } = forge((await tokens.issue(GRANT, ORIGIN)).token);
    assert.equal(await tokens.verify(unsigned(), ORIGIN), undefined);
  });

  it('refuses tokens signed with a key it does not hold, even under its own kid', async () => {
    const tokens = await tokensWith();
    const issued = (await tokens.issue(GRANT, ORIGIN)).token;
    const kid = decodeProtectedHeader(issued).kid as string;
    const { signedWith } = forge(issued);
    assert.equal(await tokens.verify(await signedWith(foreign, kid), ORIGIN), undefined);
    const foreignKid = (await tokenKeys([foreign])).signing.kid;
    assert.equal(await tokens.verify(await signedWith(foreign, foreignKid), ORIGIN), undefined);
  });

  it('refuses expired tokens', async () => {
    let now = T0;
    const tokens = await tokensWith([keyA], { now: () => now });
    const issued = await tokens.issue(GRANT, ORIGIN);
    now = T0 + 299_000;
    assert.deepEqual(await tokens.verify(issued.token, ORIGIN), GRANT);
    now = T0 + 320_000;
    assert.equal(await tokens.verify(issued.token, ORIGIN), undefined);
  });

  it('refuses tokens for another service or from another issuer', async () => {
    const tokens = await tokensWith();
    const issued = (await tokens.issue(GRANT, ORIGIN)).token;
    assert.equal(await tokens.verify(issued, { ...ORIGIN, service: 'other-registry.example.com' }), undefined);
    assert.equal(await tokens.verify(issued, { ...ORIGIN, url: 'https://other-registry.example.com' }), undefined);
  });

  it('refuses tampered and malformed tokens', async () => {
    const tokens = await tokensWith();
    const issued = (await tokens.issue(GRANT, ORIGIN)).token;
    const [header, , signature] = issued.split('.');
    const widened = { ...decodeJwt(issued), access: [{ type: 'repository', name: 'acme/production/api', actions: ['pull'] }] };
    const payload = Buffer.from(JSON.stringify(widened)).toString('base64url');
    assert.equal(await tokens.verify(`${header}.${payload}.${signature}`, ORIGIN), undefined);
    for (const junk of ['', 'abc', 'a.b.c', `${header}..`]) assert.equal(await tokens.verify(junk, ORIGIN), undefined, junk);
  });

  it('are verified by every configured key and signed by the first (rotation), so instances sharing keys agree', async () => {
    const oldInstance = await tokensWith([keyB]);
    const rotated = await tokensWith([keyA, keyB]);
    const byOld = (await oldInstance.issue(GRANT, ORIGIN)).token;
    const byRotated = (await rotated.issue(GRANT, ORIGIN)).token;
    assert.deepEqual(await rotated.verify(byOld, ORIGIN), GRANT, 'the rotated instance accepts tokens of the old key');
    assert.equal(decodeProtectedHeader(byRotated).kid, (await tokenKeys([keyA])).signing.kid, 'the first key signs');
    assert.deepEqual(await (await tokensWith([keyA])).verify(byRotated, ORIGIN), GRANT, 'another instance with the key accepts it');
    assert.equal(await (await tokensWith([keyA])).verify(byOld, ORIGIN), undefined, 'a dropped key no longer verifies');
  });

  it('grant pull only, whatever else a signed token lists', async () => {
    const tokens = await tokensWith();
    const issued = (await tokens.issue(GRANT, ORIGIN)).token;
    const kid = decodeProtectedHeader(issued).kid as string;
    const appGuid = GRANT.access[0]?.appGuid;
    const claims = {
      ...decodeJwt(issued),
      access: [
        { type: 'repository', name: 'acme/development/web', actions: ['push'], app_guid: appGuid },
        { type: 'registry', name: 'catalog', actions: ['pull'], app_guid: appGuid },
      ],
    };
    const pushOnly = await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).sign(keyA);
    assert.deepEqual((await tokens.verify(pushOnly, ORIGIN))?.access, []);
  });

  it('grant nothing for a repository not bound to an app guid (the tokens of registries that resolved names again at pull time)', async () => {
    const tokens = await tokensWith();
    const issued = (await tokens.issue(GRANT, ORIGIN)).token;
    const kid = decodeProtectedHeader(issued).kid as string;
    const unbound = { ...decodeJwt(issued), access: [{ type: 'repository', name: 'acme/development/web', actions: ['pull'] }] };
    const token = await new SignJWT(unbound).setProtectedHeader({ alg: 'ES256', kid }).sign(keyA);
    assert.deepEqual((await tokens.verify(token, ORIGIN))?.access, []);
  });
});
