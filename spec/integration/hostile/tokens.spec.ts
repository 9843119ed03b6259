/**
 * Registry tokens used where they were not meant to be, beyond what `spec/integration/auth`
 * already proves (forged signatures, foreign keys, expiry, other audiences, blobs across
 * repositories): a token for one repository on another's manifests and tags, a token whose
 * payload was edited, bearer values that are no token at all, and a login trickled so slowly that
 * it would hold a connection. Every one is refused with 401 and a challenge, none with a 5xx.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { rawRequest } from '../../support/raw-http.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { ociError, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from '../auth/auth-world.ts';

const FAILING = 'acme/development/failing';

describe('hostile use of registry tokens', () => {
  let world: AuthWorld;
  let registry: TestRegistry;
  let webToken: string;
  let database: TestDatabase | undefined;

  const get = (url: string, authorization: string) => registry.registry.server.inject({ url, headers: { authorization } });

  before(async () => {
    world = await startAuthWorld();
    // Postgres where there is one: a fresh embedded database takes far longer to create, and nothing here depends on which.
    const postgres = eachDatabase().find((variant) => variant.name === 'postgres');
    database = postgres && !(await postgres.skipReason()) ? await postgres.create() : undefined;
    registry = await world.openRegistry({ HEADERS_TIMEOUT_MS: '500', REQUEST_TIMEOUT_MS: '1000', ...(database?.url ? { DATABASE_URL: database.url } : {}) });
    webToken = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`])));
    assert.equal((await get(`/v2/${WEB}/manifests/latest`, `Bearer ${webToken}`)).statusCode, 200, 'the control: the token opens its own repository');
  });

  after(async () => {
    await registry?.close();
    await database?.cleanup();
    await world?.stop();
  });

  it("refuses a token for one repository on another's manifests and tags, challenging for that one", async () => {
    for (const path of [`/v2/${FAILING}/manifests/latest`, `/v2/${FAILING}/tags/list`]) {
      const res = await get(path, `Bearer ${webToken}`);
      assert.equal(res.statusCode, 401, path);
      assert.equal(ociError(res).code, 'UNAUTHORIZED');
      assert.match(String(res.headers['www-authenticate']), new RegExp(`scope="repository:${FAILING}:pull"$`), path);
    }
  });

  it('refuses a token whose payload was edited to grant another repository', async () => {
    const [header, , signature] = webToken.split('.');
    const claims = decodeJwt(webToken);
    const edited = { ...claims, access: [{ type: 'repository', name: FAILING, actions: ['pull'] }] };
    const tampered = `${header}.${Buffer.from(JSON.stringify(edited)).toString('base64url')}.${signature}`;
    const res = await get(`/v2/${FAILING}/manifests/latest`, `Bearer ${tampered}`);
    assert.equal(res.statusCode, 401);
    assert.equal(ociError(res).code, 'UNAUTHORIZED');
  });

  it('refuses bearer values that are no token, and other schemes, with 401 and a challenge', async () => {
    const values = [
      'Bearer',
      'Bearer ',
      'Bearer x',
      'Bearer a.b.c',
      'Bearer ...',
      `Bearer ${'A'.repeat(12_000)}`,
      `Bearer ${webToken}.extra`,
      `Bearer ${webToken} ${webToken}`,
      `bearer${webToken}`,
      `Basic ${Buffer.from(`${world.seed.users.space_developer.username}:${world.seed.users.space_developer.password}`).toString('base64')}`,
      'Digest username="x"',
      `Bearer ${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}.sig`,
    ];
    for (const authorization of values) {
      const res = await get(`/v2/${WEB}/manifests/latest`, authorization);
      assert.equal(res.statusCode, 401, authorization.slice(0, 60));
      assert.equal(ociError(res).code, 'UNAUTHORIZED');
      assert.match(String(res.headers['www-authenticate']), /^Bearer realm=/);
    }
    assert.deepEqual(registry.logs.filter((line) => Number(line.level) >= 50).map((line) => line.msg), [], 'no request failed with an error');
  });

  it('cuts off a login that trickles its form body, with 408', async () => {
    await registry.registry.server.start();
    const port = registry.registry.server.info.port as number;
    const form = `grant_type=password&service=localhost&client_id=containerd&username=${world.seed.users.space_developer.username}&password=`;
    const res = await rawRequest(port, `POST /v2/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${form.length + 300}\r\n\r\n${form}`, {
      trickle: 'p'.repeat(300),
      trickleEveryMs: 100,
      giveUpAfterMs: 25_000,
    });
    assert.ok(res.closedByServer, 'the server closed the connection before the trickle ran out');
    assert.equal(res.status, 408, res.received);
  });
});
