/**
 * UAA tokens checked locally against the simulator's UAA: keys from `/token_keys`, cached, fetched
 * again for a kid UAA has newly rotated to (but not for every made-up kid), and UAA outages told
 * apart from bad tokens.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import axios from 'axios';
import { SignJWT } from 'jose';
import { pino } from 'pino';
import { UaaTokenVerifier } from '../../../src/auth/uaa-token-verifier.ts';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { seedFoundation, startCfSimulator, type CfSimulator } from '../../support/cf-simulator/index.ts';

describe('UAA token verifier', () => {
  let cf: CfSimulator;
  const logger = pino({ level: 'silent' });
  const verifier = (keysCooldownMs?: number) => new UaaTokenVerifier({ uaaUrl: async () => cf.uaaUrl, http: axios.create({ timeout: 2000 }), logger, keysCooldownMs });
  const userToken = () => cf.uaa.issueToken({ clientId: 'cf', username: 'space-developer' });
  const refusal = (code: string) => (error: unknown) => error instanceof RegistryError && error.code === code;

  before(async () => {
    cf = await startCfSimulator();
    seedFoundation(cf, { dropletBytes: () => Buffer.alloc(0) });
  });

  after(async () => {
    await cf?.stop();
  });

  beforeEach(() => {
    cf.faults.reset();
    cf.requests.reset();
  });

  it("reads the user, their scopes and keeps the token to ask Cloud Controller as them, fetching keys and issuer once", async () => {
    const checker = verifier();
    const token = userToken();
    const identity = await checker.verify(token);
    assert.equal(identity.userName, 'space-developer');
    assert.equal(identity.userId, cf.uaa.user('space-developer')?.guid);
    assert.ok(identity.scopes.includes('cloud_controller.read'));
    assert.equal(identity.accessToken, token);
    await checker.verify(userToken());
    assert.equal(cf.requests.count('GET /token_keys'), 1);
    assert.equal(cf.requests.count('GET /.well-known/openid-configuration'), 1);
  });

  it('takes a client token for its client, as Cloud Controller does', async () => {
    const identity = await verifier().verify(cf.uaa.issueToken({ clientId: 'droplet_registry' }));
    assert.equal(identity.userId, 'droplet_registry');
  });

  it('fetches the keys again for the kid UAA rotated to; old keys still listed keep verifying', async () => {
    const checker = verifier(0);
    const before = userToken();
    await checker.verify(before);
    cf.uaa.rotateKey();
    const rotated = userToken();
    assert.equal((await checker.verify(rotated)).userName, 'space-developer');
    assert.equal(cf.requests.count('GET /token_keys'), 2);
    await checker.verify(before);
  });

  it('does not fetch the keys for every unknown kid (a cooldown), and refuses such tokens', async () => {
    const checker = verifier();
    await checker.verify(userToken());
    const claims = JSON.parse(Buffer.from(userToken().split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
    for (let i = 0; i < 5; i += 1) {
      const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: `made-up-${i}` }).sign(cf.uaa.keys.active.privateKey);
      await assert.rejects(checker.verify(forged), refusal('UNAUTHORIZED'));
    }
    assert.equal(cf.requests.count('GET /token_keys'), 1);
  });

  it('answers 503 while UAA cannot be asked, and recovers', async () => {
    const checker = verifier();
    cf.faults.failNext(1, 503, { server: 'uaa', route: 'GET /token_keys' });
    await assert.rejects(checker.verify(userToken()), refusal('UNAVAILABLE'));
    cf.faults.failNext(1, 502, { server: 'uaa', route: 'GET /.well-known/openid-configuration' });
    await assert.rejects(verifier().verify(userToken()), refusal('UNAVAILABLE'));
    assert.equal((await checker.verify(userToken())).userName, 'space-developer');
  });
});
