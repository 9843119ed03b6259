/**
 * A fleet rollout against Cloud Controller and UAA (the simulator): many nodes pulling one app with
 * one user's password cost the platform a few calls, `:latest` follows `cf push` at once, and a
 * failing Cloud Controller or UAA does not fail pulls that were answered a moment ago.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TestRegistry } from '../../support/test-registry.ts';
import { startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from './auth-world.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

interface Pulled {
  readonly digest: string;
  readonly statuses: number[];
}

/** What `docker pull <registry>/acme/development/web:latest` sends from fleet node number `node`, with the developer's password. */
async function dockerPull(registry: TestRegistry, world: AuthWorld, node = 1): Promise<Pulled> {
  const { server } = registry.registry;
  const statuses: number[] = [];
  const remoteAddress = `10.0.${Math.floor(node / 256)}.${node % 256}`;
  const tokenAnswer = await server.inject({ ...tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`]), remoteAddress });
  statuses.push(tokenAnswer.statusCode);
  if (tokenAnswer.statusCode !== 200) return { digest: '', statuses };
  const headers = { authorization: `Bearer ${tokenOf(tokenAnswer)}`, accept: OCI_MANIFEST };
  const byTag = await server.inject({ method: 'GET', url: `/v2/${WEB}/manifests/latest`, headers, remoteAddress });
  statuses.push(byTag.statusCode);
  if (byTag.statusCode !== 200) return { digest: '', statuses };
  const digest = byTag.headers['docker-content-digest'] as string;
  const byDigest = await server.inject({ method: 'GET', url: `/v2/${WEB}/manifests/${digest}`, headers, remoteAddress });
  statuses.push(byDigest.statusCode);
  const manifest = JSON.parse(byTag.payload) as { config: { digest: string }; layers: Array<{ digest: string }> };
  for (const blob of [manifest.config, ...manifest.layers]) {
    statuses.push((await server.inject({ method: 'HEAD', url: `/v2/${WEB}/blobs/${blob.digest}`, headers, remoteAddress })).statusCode);
    statuses.push((await server.inject({ method: 'GET', url: `/v2/${WEB}/blobs/${blob.digest}`, headers, remoteAddress })).statusCode);
  }
  return { digest, statuses };
}

/** The calls a registry made to the simulator since the last reset, audit event reads apart. */
function upstreamCalls(world: AuthWorld): { passwordGrants: number; capi: number; auditEventReads: number } {
  const capi = world.cf.requests.list('capi');
  return {
    passwordGrants: world.cf.requests.list('uaa').filter((request) => request.route === 'POST /oauth/token' && request.hadAuthorization).length,
    capi: capi.filter((request) => request.route !== 'GET /v3/audit_events').length,
    auditEventReads: capi.filter((request) => request.route === 'GET /v3/audit_events').length,
  };
}

describe('a fleet pulling one app', () => {
  let world: AuthWorld;

  before(async () => {
    world = await startAuthWorld();
  });

  after(() => world.stop());

  it('costs Cloud Controller and UAA a handful of calls, not a few per pull', async (t) => {
    // Audit events read once, at the first pull: however long the burst takes, what it costs is counted exactly.
    const registry = await world.openRegistry({ CAPI_CHANGE_CHECK_INTERVAL_MS: '600000' });
    t.after(() => registry.close());
    const first = await dockerPull(registry, world);
    assert.ok(first.statuses.every((status) => status === 200), `first pull: ${first.statuses.join(' ')}`);
    world.cf.requests.reset();
    const pulls = await Promise.all(Array.from({ length: 40 }, (_, node) => dockerPull(registry, world, node)));
    for (const pull of pulls) assert.deepEqual(new Set(pull.statuses), new Set([200]), pull.statuses.join(' '));
    const calls = upstreamCalls(world);
    const passwordLogins = world.cf.requests.list('uaa').filter((request) => request.route === 'POST /oauth/token').length;
    assert.equal(passwordLogins, 0, 'the password UAA accepted on the first pull is accepted again without asking it');
    assert.equal(calls.capi, 0, `Cloud Controller answers were reused: ${world.cf.requests.list('capi').map((r) => r.route).join(', ')}`);
    assert.equal(calls.auditEventReads, 0, 'changes were read at the first pull, not again within the interval');
    const metrics = await registry.registry.metrics.text();
    assert.match(metrics, /droplet_registry_capi_cache_lookups_total\{kind="current_droplet",outcome="hit"\} [1-9]/);
    assert.match(metrics, /droplet_registry_upstream_calls_total\{upstream="capi",during="token"\} [1-9]/, 'the first pull’s calls are counted against its token request');
  });

  it('asks UAA again after a failed login of the user, and Cloud Controller again for everything with the caches off', async (t) => {
    const registry = await world.openRegistry({ CAPI_CACHE_TTL_MS: '0', UAA_PASSWORD_LOGIN_TTL_MS: '0', AUTH_DECISION_TTL_MS: '0' });
    t.after(() => registry.close());
    await dockerPull(registry, world);
    world.cf.requests.reset();
    await dockerPull(registry, world);
    await dockerPull(registry, world);
    const calls = upstreamCalls(world);
    assert.equal(calls.passwordGrants, 2, 'one password grant per pull');
    assert.ok(calls.capi >= 2 * 4, `several Cloud Controller calls per pull (${calls.capi} for 2)`);
    assert.equal(calls.auditEventReads, 0);

    const remembering = await world.openRegistry();
    t.after(() => remembering.close());
    const developer = world.seed.users.space_developer;
    await remembering.registry.server.inject(tokenRequest(developer));
    world.cf.requests.reset();
    const wrong = await remembering.registry.server.inject(tokenRequest({ username: developer.username, password: 'not the password' }));
    assert.equal(wrong.statusCode, 401);
    assert.equal((await remembering.registry.server.inject(tokenRequest(developer))).statusCode, 200);
    assert.equal(upstreamCalls(world).passwordGrants, 2, 'the failed attempt made UAA be asked again for the right password');
  });

  it('serves the new droplet on `:latest` as soon as Cloud Controller records the change', async (t) => {
    const registry = await world.openRegistry({ CAPI_CHANGE_CHECK_INTERVAL_MS: '0' });
    t.after(async () => {
      world.cf.foundation.setCurrentDroplet(world.seed.apps.web, world.seed.droplets.webCurrent);
      await registry.close();
    });
    const before = await dockerPull(registry, world);
    world.cf.requests.reset();
    assert.equal((await dockerPull(registry, world)).digest, before.digest);
    assert.equal(world.cf.requests.count('GET /v3/apps/:guid/droplets/current'), 0, 'nothing changed: the current droplet is not asked for again');
    // `cf push` ends by making the new droplet current (audit.app.droplet.mapped).
    world.cf.foundation.setCurrentDroplet(world.seed.apps.web, world.seed.droplets.webPrevious);
    const afterPush = await dockerPull(registry, world);
    assert.ok(afterPush.statuses.every((status) => status === 200), afterPush.statuses.join(' '));
    assert.notEqual(afterPush.digest, before.digest, 'the pull right after the push gets the new droplet');
  });

  it('keeps pulls working while Cloud Controller and UAA fail, with answers from before, and says so', async (t) => {
    // Answers are reused for a millisecond only, so every lookup below would ask again.
    const settings = { CAPI_CACHE_TTL_MS: '1', UAA_PASSWORD_LOGIN_TTL_MS: '1', AUTH_DECISION_TTL_MS: '1' };
    const stale = await world.openRegistry(settings);
    const strict = await world.openRegistry({ ...settings, UPSTREAM_STALE_IF_ERROR_MS: '0' });
    t.after(async () => {
      world.cf.faults.reset();
      await stale.close();
      await strict.close();
    });
    const before = await dockerPull(stale, world);
    await dockerPull(strict, world);
    world.cf.faults.failNext(10_000, 503, { server: 'capi' });
    world.cf.faults.failNext(10_000, 503, { server: 'uaa' });
    const during = await dockerPull(stale, world);
    assert.ok(during.statuses.every((status) => status === 200), `pulls go on: ${during.statuses.join(' ')}`);
    assert.equal(during.digest, before.digest);
    const events = new Set(stale.events);
    for (const event of ['source.stale_answer', 'login.stale_answer']) assert.ok(events.has(event), `${event} logged`);
    assert.match(await stale.registry.metrics.text(), /droplet_registry_upstream_stale_answers_total\{answer="login"\} [1-9]/);
    const refused = await dockerPull(strict, world);
    assert.equal(refused.statuses.at(-1), 503, 'with UPSTREAM_STALE_IF_ERROR_MS=0 the outage fails the pull');
  });

  it("never lets a permission from before stand in when Cloud Controller rate-limits the user's own calls", async (t) => {
    const registry = await world.openRegistry({ AUTH_DECISION_TTL_MS: '1' });
    t.after(async () => {
      world.cf.faults.reset();
      await registry.close();
    });
    assert.equal((await dockerPull(registry, world)).statuses.at(-1), 200);
    // A user who exhausts their own Cloud Controller quota (the permission check is asked with their token)…
    world.cf.faults.failNext(10_000, 429, { route: 'GET /v3/droplets/:guid/download' });
    const answer = await registry.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${WEB}:pull`]));
    assert.equal(answer.statusCode, 429, answer.payload);
    assert.match(answer.payload, /rate-limiting/);
    assert.ok(!registry.events.includes('auth.stale_decision'), '…is not granted what was decided before, which a revocation may have changed');
  });
});
