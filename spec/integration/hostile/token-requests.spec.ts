/**
 * What a hostile but logged-in user can do with token requests: bind a token to a name and then
 * move the name (renaming their own space or org onto another's), make one token request cost
 * thousands of Cloud Controller calls, wipe the failure count of someone else's username, and
 * what happens to a password that merely looks like a JWT.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectOptions } from '@hapi/hapi';
import { decodeJwt } from 'jose';
import type { App, Droplet, Org, Space } from '../../support/cf-simulator/foundation.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { basic, ociError, startAuthWorld, tokenOf, tokenRequest, type AuthWorld } from '../auth/auth-world.ts';

interface Manifest {
  readonly config: { readonly digest: string };
  readonly layers: ReadonlyArray<{ readonly digest: string }>;
}

describe('hostile token requests', () => {
  let world: AuthWorld;
  let registry: TestRegistry;
  /** A space and an app the attacker (the seeded space manager of `development`) cannot see. */
  let victim: { org: Org; space: Space; app: App; droplet: Droplet };

  const inject = (options: ServerInjectOptions) => registry.registry.server.inject(options);
  const pull = (path: string, token: string) => inject({ url: path, headers: { authorization: `Bearer ${token}` } });
  const manifestOf = async (repository: string, token: string) => {
    const res = await pull(`/v2/${repository}/manifests/latest`, token);
    assert.equal(res.statusCode, 200, res.payload);
    return { digest: String(res.headers['docker-content-digest']), body: JSON.parse(res.payload) as Manifest };
  };

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry({ CAPI_CHANGE_CHECK_INTERVAL_MS: '0' });
    const { foundation } = world.cf;
    // "Prod Env" (repository form prod-env) in acme, and an org "Victim Corp" (victim-corp), each with an app named web like the attacker's.
    const space = foundation.createSpace(world.seed.org, { name: 'Prod Env' });
    const app = foundation.createApp(space, { name: 'web', buildpacks: ['nodejs_buildpack'] });
    const droplet = foundation.addDroplet(app, { bits: () => standardDroplet({ startCommand: 'node victim.js' }), processTypes: { web: 'node victim.js' } });
    foundation.setCurrentDroplet(app, droplet);
    const org = foundation.createOrg({ name: 'Victim Corp' });
    const orgSpace = foundation.createSpace(org, { name: 'development' });
    const orgApp = foundation.createApp(orgSpace, { name: 'web', buildpacks: ['nodejs_buildpack'] });
    foundation.setCurrentDroplet(orgApp, foundation.addDroplet(orgApp, { bits: () => standardDroplet({ startCommand: 'node corp.js' }), processTypes: { web: 'node corp.js' } }));
    victim = { org, space, app, droplet };
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  describe('a token granted for a name, the name then moved to an app its user may not pull', () => {
    const attacker = () => world.seed.users.space_manager;
    const adminToken = async (repository: string) => tokenOf(await inject(tokenRequest(world.seed.users.admin, [`repository:${repository}:pull`])));

    it('still serves only the app the grant was decided for, when the name moves to another app', async () => {
      const { foundation } = world.cf;
      const development = world.seed.spaces.development;
      const victimImage = await manifestOf('acme/prod-env/web', await adminToken('acme/prod-env/web'));
      const ownImage = await manifestOf('acme/development/web', await adminToken('acme/development/web'));

      // The victim's space is called something else while the attacker holds the name…
      foundation.renameSpace(victim.space, 'Production');
      foundation.renameSpace(development, 'prod-env');
      let token: string;
      try {
        token = tokenOf(await inject(tokenRequest(attacker(), ['repository:acme/prod-env/web:pull'])));
      } finally {
        // …and gets it back once the attacker has their token.
        foundation.renameSpace(development, 'development');
        foundation.renameSpace(victim.space, 'Prod Env');
      }
      const claims = decodeJwt(token) as { access: Array<{ name: string; app_guid: string }> };
      assert.deepEqual(claims.access, [{ type: 'repository', name: 'acme/prod-env/web', actions: ['pull'], app_guid: world.seed.apps.web.guid }]);

      // acme/prod-env/web resolves to the victim's app again; the token still reaches the attacker's own.
      const served = await manifestOf('acme/prod-env/web', token);
      assert.notEqual(served.digest, victimImage.digest, "the victim's image must not be served");
      assert.equal(served.digest, ownImage.digest, 'the app the token was granted for');
      const victimLayer = victimImage.body.layers[2]?.digest as string;
      const blob = await pull(`/v2/acme/prod-env/web/blobs/${victimLayer}`, token);
      assert.equal(blob.statusCode, 404, "the victim's droplet layer");
      assert.equal(ociError(blob).code, 'BLOB_UNKNOWN');
      const byDigest = await pull(`/v2/acme/prod-env/web/manifests/${victimImage.digest}`, token);
      assert.equal(byDigest.statusCode, 404, "the victim's manifest by digest");
      const tags = JSON.parse((await pull('/v2/acme/prod-env/web/tags/list', token)).payload) as { tags: string[] };
      assert.ok(!tags.tags.includes(victim.droplet.guid), "the victim's droplets are not listed");
    });

    it('still serves only the app the grant was decided for, when an org name moves to another org', async () => {
      const { foundation } = world.cf;
      const orgManager = world.seed.users.org_manager;
      const victimImage = await manifestOf('victim-corp/development/web', await adminToken('victim-corp/development/web'));
      foundation.renameOrg(victim.org, 'Victim Corporation');
      foundation.renameOrg(world.seed.org, 'victim-corp');
      let token: string;
      try {
        token = tokenOf(await inject(tokenRequest(orgManager, ['repository:victim-corp/development/web:pull'])));
      } finally {
        foundation.renameOrg(world.seed.org, 'acme');
        foundation.renameOrg(victim.org, 'Victim Corp');
      }
      const served = await manifestOf('victim-corp/development/web', token);
      assert.notEqual(served.digest, victimImage.digest, "the other org's image must not be served");
    });

    it('cannot take a name over by renaming onto its repository form: a shared form reaches no one', async () => {
      const { foundation } = world.cf;
      const admin = world.seed.users.admin;
      foundation.renameOrg(world.seed.org, 'victim-corp');
      try {
        for (const user of [world.seed.users.org_manager, admin]) {
          const claims = decodeJwt(tokenOf(await inject(tokenRequest(user, ['repository:victim-corp/development/web:pull'])))) as { access: unknown[]; denied: unknown[] };
          assert.deepEqual(claims.access, [], user.username);
          assert.deepEqual(claims.denied, [{ name: 'victim-corp/development/web', reason: 'not_found' }], user.username);
        }
        assert.ok(
          registry.logs.some((line) => line.event === 'name.ambiguous' && /the orgs ("Victim Corp", "victim-corp"|"victim-corp", "Victim Corp") all map to "victim-corp"/.test(String(line.msg))),
          'operators are told why',
        );
      } finally {
        foundation.renameOrg(world.seed.org, 'acme');
      }
      // Unambiguous again: the victim's org is back.
      const claims = decodeJwt(tokenOf(await inject(tokenRequest(admin, ['repository:victim-corp/development/web:pull'])))) as { access: Array<{ app_guid: string }> };
      assert.notEqual(claims.access[0]?.app_guid, undefined);
    });

    it('decides afresh, for the app the name points at now, when a new token is asked for', async () => {
      const res = await inject(tokenRequest(attacker(), ['repository:acme/prod-env/web:pull']));
      const claims = decodeJwt(tokenOf(res)) as { access: unknown[]; denied: Array<{ name: string; reason: string }> };
      assert.deepEqual(claims.access, []);
      assert.deepEqual(claims.denied, [{ name: 'acme/prod-env/web', reason: 'not_found' }]);
    });
  });

  it("grants no one an app without droplets: a space supporter's token must not reach the droplet its first staging makes", async () => {
    const { foundation } = world.cf;
    const fresh = foundation.createApp(world.seed.spaces.development, { name: 'fresh', buildpacks: ['nodejs_buildpack'] });
    const asking = async (role: 'space_supporter' | 'space_developer') => {
      const token = tokenOf(await inject(tokenRequest(world.seed.users[role], ['repository:acme/development/fresh:pull'])));
      return { token, access: (decodeJwt(token) as { access: unknown[] }).access };
    };
    const supporter = await asking('space_supporter');
    assert.deepEqual(supporter.access, [], 'the supporter sees the app, and is granted nothing');
    assert.deepEqual((await asking('space_developer')).access, [], 'nor anyone else: there is nothing to pull yet');
    // The first `cf push` finishes staging while the supporter's token is still valid.
    foundation.setCurrentDroplet(fresh, foundation.addDroplet(fresh, { bits: () => standardDroplet({ startCommand: 'node fresh.js' }), processTypes: { web: 'node fresh.js' } }));
    const res = await pull('/v2/acme/development/fresh/manifests/latest', supporter.token);
    assert.equal(res.statusCode, 404, res.payload);
    assert.equal(ociError(res).code, 'NAME_UNKNOWN', 'the token says what was refused: the droplet is not served');
    assert.deepEqual((await asking('space_supporter')).access, [], 'asked again, the supporter is refused the download');
    assert.equal((await asking('space_developer')).access.length, 1, 'the developer is granted it now');
  });

  describe('a token request asking for very many repositories', () => {
    const stranger = { username: 'stranger', password: 'stranger-password' };
    before(() => {
      world.cf.uaa.addUser({ ...stranger, scopes: ['cloud_controller.read'] });
    });
    const scopes = (count: number, offset = 0) => Array.from({ length: count }, (_, index) => `repository:acme/development/app-${index + offset}:pull`);
    const upstreamCalls = () => world.cf.requests.list('capi').length + world.cf.requests.list('uaa').length;

    it('is decided for its first 16 distinct repositories only, at a bounded cost upstream, with a bounded token', async () => {
      world.cf.requests.reset();
      const res = await inject({ ...tokenRequest(stranger), method: 'POST', url: '/v2/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(stranger, [...scopes(1000), ...scopes(1000)]) });
      const claims = decodeJwt(tokenOf(res)) as { access: unknown[]; denied: Array<{ name: string }> };
      assert.deepEqual(
        claims.denied.map(({ name }) => name),
        Array.from({ length: 16 }, (_, index) => `acme/development/app-${index}`),
      );
      // Resolving a name that matches nothing exactly costs up to 5 calls (apps by names, then org, space, app by form).
      assert.ok(upstreamCalls() <= 3 + 16 * 5, `upstream calls: ${upstreamCalls()}`);
      assert.ok(tokenOf(res).length < 4096, `token of ${tokenOf(res).length} bytes`);
    });

    it('takes its bound from TOKEN_MAX_REPOSITORIES, and ignores names no repository can have', async () => {
      const narrow = await world.openRegistry({ TOKEN_MAX_REPOSITORIES: '2' });
      try {
        const longName = `acme/development/${'a'.repeat(300)}`;
        const res = await narrow.registry.server.inject(tokenRequest(world.seed.users.space_developer, [`repository:${longName}:pull`, 'repository:acme/development/web:pull', 'repository:acme/development/failing:pull', 'repository:acme/development/legacy:pull']));
        const claims = decodeJwt(tokenOf(res)) as { access: Array<{ name: string }>; denied: unknown[] };
        assert.deepEqual(
          claims.access.map(({ name }) => name),
          ['acme/development/web', 'acme/development/failing'],
        );
        assert.deepEqual(claims.denied, []);
      } finally {
        await narrow.close();
      }
    });

    it('shares AUTH_UPSTREAM_CONCURRENCY slots with every other token request of the instance, and answers 429 past its queue', async () => {
      const single = await world.openRegistry({ AUTH_UPSTREAM_CONCURRENCY: '1' });
      try {
        world.cf.requests.reset();
        // Cloud Controller answers slowly: the first request still decides while the others arrive.
        world.cf.faults.delayNext(10_000, 10, { server: 'capi' });
        // 40 concurrent requests of 8 repositories each: 1 deciding, 16 waiting, the rest refused at once.
        // With a UAA token (verified here) all of them reach the decisions together.
        const asToken = { username: stranger.username, password: `bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: stranger.username })}` };
        // Each from an address of its own: TOKEN_REQUESTS_PER_CLIENT is not what is shown here.
        const answers = await Promise.all(
          Array.from({ length: 40 }, (_, index) => single.registry.server.inject({ ...tokenRequest(asToken, scopes(8, index * 8)), remoteAddress: `198.51.100.${index + 1}` })),
        );
        const statuses = answers.map((res) => res.statusCode);
        assert.ok(statuses.includes(200), String(statuses));
        assert.ok(statuses.includes(429), String(statuses));
        for (const res of answers.filter((answer) => answer.statusCode === 429)) {
          assert.equal(ociError(res).code, 'TOOMANYREQUESTS');
          assert.ok(Number(res.headers['retry-after']) >= 1);
        }
        assert.equal(statuses.filter((status) => status === 200).length, 17, 'one deciding and 16 waiting get their tokens');
        // UAA answers the logins themselves (not bounded by this setting); Cloud Controller sees one request's 4 decisions at most.
        assert.ok(world.cf.requests.maxInFlight('capi') <= 4, `${world.cf.requests.maxInFlight('capi')} Cloud Controller calls at once`);
      } finally {
        world.cf.faults.reset();
        await single.close();
      }
    });
  });

  describe('one client address sending many token requests at once', () => {
    it('has TOKEN_REQUESTS_PER_CLIENT of them decided at once, the rest refused at once, while other clients are served', async () => {
      const shared = await world.openRegistry({ TOKEN_REQUESTS_PER_CLIENT: '2' });
      const stranger = world.cf.uaa.user('stranger') ?? world.cf.uaa.addUser({ username: 'stranger', password: 'stranger-password', scopes: ['cloud_controller.read'] });
      const asToken = { username: stranger.username, password: `bearer ${world.cf.uaa.issueToken({ clientId: 'cf', username: stranger.username })}` };
      const request = (index: number, remoteAddress: string) =>
        shared.registry.server.inject({ ...tokenRequest(asToken, [`repository:acme/development/busy-${index}:pull`]), remoteAddress });
      try {
        world.cf.faults.delayNext(10_000, 20, { server: 'capi' });
        const flood = Array.from({ length: 12 }, (_, index) => request(index, '203.0.113.66'));
        const other = await request(99, '203.0.113.7');
        const statuses = (await Promise.all(flood)).map((res) => res.statusCode);
        assert.equal(other.statusCode, 200, 'another client is served meanwhile');
        assert.equal(statuses.filter((status) => status === 200).length, 2, String(statuses));
        assert.equal(statuses.filter((status) => status === 429).length, 10, String(statuses));
      } finally {
        world.cf.faults.reset();
        await shared.close();
      }
    });
  });

  describe('throttling failed logins', () => {
    it("is not reset for a victim's username by a login with the attacker's own UAA token under that name", async () => {
      const throttled = await world.openRegistry({ LOGIN_FAILURES_LIMIT: '3', LOGIN_FAILURES_WINDOW_MS: '600000' });
      const victimName = world.seed.users.space_developer.username;
      const ownToken = world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.space_auditor.username });
      // Every attempt from another address, as an attacker with many would: only the username can throttle.
      let address = 0;
      const login = (password: string) => {
        address += 1;
        const remoteAddress = `198.51.100.${address}`;
        return throttled.registry.server.inject({ ...tokenRequest({ username: victimName, password }), headers: { authorization: basic(victimName, password), 'x-forwarded-for': remoteAddress }, remoteAddress });
      };
      try {
        const statuses: number[] = [];
        for (let round = 0; round < 3; round += 1) {
          statuses.push((await login(`guess-${round}`)).statusCode);
          statuses.push((await login(`bearer ${ownToken}`)).statusCode);
        }
        statuses.push((await login('guess-3')).statusCode);
        // Before the fix each own-token login wiped the victim's count: 401, 200, … forever.
        assert.deepEqual(statuses, [401, 200, 401, 200, 401, 429, 429]);
        const real = await login(world.seed.users.space_developer.password);
        assert.equal(real.statusCode, 429, 'the victim is throttled too until the window passes: that is what limits guessing');
      } finally {
        await throttled.close();
      }
    });

    it('counts a username with surrounding white space as that username', async () => {
      const throttled = await world.openRegistry({ LOGIN_FAILURES_LIMIT: '2', LOGIN_FAILURES_WINDOW_MS: '600000' });
      const name = world.seed.users.org_auditor.username;
      const login = (username: string, index: number) =>
        throttled.registry.server.inject({ ...tokenRequest({ username, password: 'guess' }), headers: { authorization: basic(username, 'guess') }, remoteAddress: `198.51.100.${150 + index}` });
      try {
        const statuses = [];
        for (const [index, variant] of [name, `${name} `, `\t${name.toUpperCase()}`].entries()) statuses.push((await login(variant, index)).statusCode);
        assert.deepEqual(statuses, [401, 401, 429]);
      } finally {
        await throttled.close();
      }
    });

    it('is reset for the user UAA confirmed, after their own successful login', async () => {
      const throttled = await world.openRegistry({ LOGIN_FAILURES_LIMIT: '3', LOGIN_FAILURES_WINDOW_MS: '600000' });
      const user = world.seed.users.space_auditor;
      const login = (password: string, remoteAddress: string) => throttled.registry.server.inject({ ...tokenRequest({ username: user.username, password }), headers: { authorization: basic(user.username, password), 'x-forwarded-for': remoteAddress }, remoteAddress });
      try {
        assert.equal((await login('typo-1', '198.51.100.201')).statusCode, 401);
        assert.equal((await login('typo-2', '198.51.100.202')).statusCode, 401);
        assert.equal((await login(user.password, '198.51.100.203')).statusCode, 200);
        assert.equal((await login('typo-3', '198.51.100.204')).statusCode, 401);
        assert.equal((await login('typo-4', '198.51.100.205')).statusCode, 401, 'two failures since the reset, not four');
      } finally {
        await throttled.close();
      }
    });
  });

  it('logs in with a password that merely looks like a JWT (three dot-separated words), through UAA', async () => {
    const user = { username: 'dotted', password: 'correct.horse.battery' };
    world.cf.uaa.addUser({ ...user, scopes: ['cloud_controller.read'] });
    world.cf.foundation.grantSpaceRole(world.cf.uaa.user(user.username)?.guid as string, world.seed.spaces.development, 'developer');
    world.cf.requests.reset();
    const res = await inject(tokenRequest(user, ['repository:acme/development/web:pull']));
    const claims = decodeJwt(tokenOf(res)) as { access: Array<{ name: string }> };
    assert.deepEqual(
      claims.access.map(({ name }) => name),
      ['acme/development/web'],
    );
    assert.equal(world.cf.requests.count('POST /oauth/token'), 1, 'one password grant');
    const wrong = await inject(tokenRequest({ ...user, password: 'correct.horse.staple' }));
    assert.equal(wrong.statusCode, 401);
  });
});

/** containerd's POST form with many `scope` fields. */
function form(user: { username: string; password: string }, scopes: readonly string[]): string {
  const body = new URLSearchParams({ grant_type: 'password', username: user.username, password: user.password, service: 'localhost' });
  for (const scope of scopes) body.append('scope', scope);
  return body.toString();
}
