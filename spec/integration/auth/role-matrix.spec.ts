/**
 * Who may pull, for every row of the droplet-download matrix (reference §1.10), against the
 * simulator's Cloud Controller: a user logs in (with their password, and with a UAA token as
 * `cf oauth-token` prints it), asks for a token for `acme/development/web`, then pulls. The matrix
 * runs twice: as Cloud Controller decides (the default), and with global auditors excluded
 * (AUTH_ALLOW_GLOBAL_AUDITORS=false), where only a global auditor's roles in the app's space or org
 * count.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { DOWNLOAD_MATRIX, type MatrixRole, type SeededUser } from '../../support/cf-simulator/index.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { ociError, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from './auth-world.ts';

/** What a pull answers for each answer Cloud Controller gives the user's download. */
/** In `production`: only admins, global readers and the org manager may pull it. */
const API = 'acme/production/api';

const PULL: Record<302 | 403 | 404, { status: number; code?: string }> = {
  302: { status: 200 },
  403: { status: 403, code: 'DENIED' },
  404: { status: 404, code: 'NAME_UNKNOWN' },
};

/** The matrix's answers with global auditors excluded: theirs becomes a refusal that says so. */
const EXCLUDING: Record<MatrixRole, { status: number; code?: string }> = {
  ...(Object.fromEntries(Object.entries(DOWNLOAD_MATRIX).map(([role, download]) => [role, PULL[download]])) as Record<MatrixRole, { status: number; code?: string }>),
  global_auditor: { status: 403, code: 'DENIED' },
};

describe('pulls per role of the download matrix', () => {
  let world: AuthWorld;
  let registry: TestRegistry;
  /** The same foundation, with AUTH_ALLOW_GLOBAL_AUDITORS=false. */
  let excluding: TestRegistry;

  const inject = (url: string, token: string, method = 'GET', on = registry) => on.registry.server.inject({ method, url, headers: { authorization: `Bearer ${token}` } });

  /** What `cf oauth-token` prints for the user: a password grant of the cf CLI's client. */
  async function cfOauthToken(user: SeededUser): Promise<string> {
    const response = await fetch(`${world.cf.uaaUrl}/oauth/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('cf:').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: user.username, password: user.password }),
    });
    assert.equal(response.status, 200);
    return `bearer ${((await response.json()) as { access_token: string }).access_token}`;
  }

  function assertPull(response: ServerInjectResponse, expected: { status: number; code?: string }, what: string): void {
    assert.equal(response.statusCode, expected.status, `${what}: ${response.payload}`);
    if (expected.code) assert.equal(ociError(response).code, expected.code, what);
  }

  /** Logs `user` in both ways on `on`, then pulls `name` (manifest, HEAD, tags, a blob) with each token. */
  async function assertPulls(on: TestRegistry, user: SeededUser, name: string, expected: { status: number; code?: string }): Promise<void> {
    const byPassword = tokenOf(await on.registry.server.inject(tokenRequest(user, [`repository:${name}:pull`])));
    const byUaaToken = tokenOf(await on.registry.server.inject(tokenRequest({ username: 'ignored', password: await cfOauthToken(user) }, [`repository:${name}:pull`])));
    for (const [login, token] of [['password', byPassword], ['UAA token', byUaaToken]] as const) {
      const manifest = await inject(`/v2/${name}/manifests/latest`, token, 'GET', on);
      assertPull(manifest, expected, `${user.username} (${login}) GET ${name} manifest`);
      assertPull(await inject(`/v2/${name}/manifests/latest`, token, 'HEAD', on), { status: expected.status }, `${user.username} (${login}) HEAD ${name} manifest`);
      assertPull(await inject(`/v2/${name}/tags/list`, token, 'GET', on), expected, `${user.username} (${login}) ${name} tags`);
      if (expected.status === 200) {
        const { config } = JSON.parse(manifest.payload) as { config: { digest: string } };
        assertPull(await inject(`/v2/${name}/blobs/${config.digest}`, token, 'GET', on), expected, `${user.username} (${login}) ${name} blob`);
      }
    }
  }

  /** A UAA user with `scopes` and, in the seeded org, `grant`ed roles. */
  function addUser(username: string, scopes: readonly string[], grant: (guid: string) => void): SeededUser {
    const created = world.cf.uaa.addUser({ username, password: `${username}-password`, scopes });
    grant(created.guid);
    return { username, password: created.password, guid: created.guid };
  }

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry();
    excluding = await world.openRegistry({ AUTH_ALLOW_GLOBAL_AUDITORS: 'false' });
  });

  after(async () => {
    await registry?.close();
    await excluding?.close();
    await world?.stop();
  });

  for (const [role, download] of Object.entries(DOWNLOAD_MATRIX) as Array<[MatrixRole, 302 | 403 | 404]>) {
    const expected = PULL[download];
    it(`${role}: Cloud Controller answers ${download} to the download, so a pull answers ${expected.status} ${expected.code ?? ''}`, async () => {
      await assertPulls(registry, world.seed.users[role], WEB, expected);
    });
  }

  for (const [role, expected] of Object.entries(EXCLUDING) as Array<[MatrixRole, { status: number; code?: string }]>) {
    it(`${role}, global auditors excluded: a pull answers ${expected.status} ${expected.code ?? ''}`, async () => {
      await assertPulls(excluding, world.seed.users[role], WEB, expected);
    });
  }

  it('with global auditors excluded, tells a global auditor why, and does not ask Cloud Controller for the download', async () => {
    const downloads = () => world.cf.requests.count('GET /v3/droplets/:guid/download');
    const before = downloads();
    const roleLookups = world.cf.requests.count('GET /v3/roles');
    const token = tokenOf(await excluding.registry.server.inject(tokenRequest(world.seed.users.global_auditor, [`repository:${API}:pull`])));
    const denied = ociError(await inject(`/v2/${API}/manifests/latest`, token, 'GET', excluding));
    assert.equal(denied.code, 'DENIED');
    assert.match(denied.message, /global-auditor may not download droplets of this app: only its space developers, managers and auditors, org managers and admins may/);
    assert.equal(downloads(), before, "no download asked for (no audit.app.droplet.download in the global auditor's name)");
    assert.equal(world.cf.requests.count('GET /v3/roles'), roleLookups + 2, 'their roles in the space, then in the org');
    const decision = excluding.logs.find((line) => line.event === 'auth.decision' && line.user === 'global-auditor');
    assert.equal(decision?.reason, 'global auditors are excluded (AUTH_ALLOW_GLOBAL_AUDITORS=false)');
  });

  it('with global auditors excluded, a global auditor pulls where they also hold a downloading role, and only there', async () => {
    const auditorDeveloper = addUser('auditor-developer', ['cloud_controller.global_auditor'], (guid) => world.cf.foundation.grantSpaceRole(guid, world.seed.spaces.development, 'developer'));
    await assertPulls(excluding, auditorDeveloper, WEB, { status: 200 });
    await assertPulls(excluding, auditorDeveloper, API, { status: 403, code: 'DENIED' });
    const auditorOrgManager = addUser('auditor-org-manager', ['cloud_controller.global_auditor'], (guid) => world.cf.foundation.grantOrgRole(guid, world.seed.org, 'manager'));
    await assertPulls(excluding, auditorOrgManager, API, { status: 200 });
    const auditorSupporter = addUser('auditor-supporter', ['cloud_controller.global_auditor'], (guid) => world.cf.foundation.grantSpaceRole(guid, world.seed.spaces.development, 'supporter'));
    await assertPulls(excluding, auditorSupporter, WEB, { status: 403, code: 'DENIED' });
    const auditorOrgAuditor = addUser('auditor-org-auditor', ['cloud_controller.global_auditor'], (guid) => world.cf.foundation.grantOrgRole(guid, world.seed.org, 'auditor'));
    await assertPulls(excluding, auditorOrgAuditor, WEB, { status: 403, code: 'DENIED' });
  });

  it('with global auditors excluded, a global auditor who is also admin read-only stays allowed', async () => {
    const both = addUser('auditor-admin-read-only', ['cloud_controller.global_auditor', 'cloud_controller.admin_read_only'], () => undefined);
    await assertPulls(excluding, both, API, { status: 200 });
  });

  it('answers an org auditor exactly as for an app that does not exist', async () => {
    const missing = 'acme/development/no-such-app';
    const token = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.org_auditor, [`repository:${WEB}:pull`, `repository:${missing}:pull`])));
    const hidden = await inject(`/v2/${WEB}/manifests/latest`, token);
    const absent = await inject(`/v2/${missing}/manifests/latest`, token);
    assert.equal(hidden.statusCode, absent.statusCode);
    assert.equal(hidden.payload.replaceAll(WEB, '<name>'), absent.payload.replaceAll(missing, '<name>'));
  });

  it('tells a space supporter why, in words docker prints', async () => {
    const token = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.space_supporter, [`repository:${WEB}:pull`])));
    const denied = ociError(await inject(`/v2/${WEB}/manifests/latest`, token));
    assert.match(denied.message, /space-supporter may not download droplets of this app: .*space supporters cannot/);
  });

  it('refuses everyone an app without droplets (nothing to pull, and a grant would reach its first droplet), and decides a docker app by its download (CC checks roles before the 422)', async () => {
    const empty = 'acme/development/empty';
    const docker = 'acme/development/docker-app';
    const expected: Array<[MatrixRole, string, string]> = [
      ['space_developer', 'NAME_UNKNOWN', 'MANIFEST_UNKNOWN'],
      ['space_supporter', 'NAME_UNKNOWN', 'DENIED'],
      ['org_auditor', 'NAME_UNKNOWN', 'NAME_UNKNOWN'],
    ];
    for (const [role, forEmpty, forDocker] of expected) {
      const token = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users[role], [`repository:${empty}:pull`, `repository:${docker}:pull`])));
      assert.equal(ociError(await inject(`/v2/${empty}/manifests/latest`, token)).code, forEmpty, `${role} ${empty}`);
      assert.equal(ociError(await inject(`/v2/${docker}/manifests/latest`, token)).code, forDocker, `${role} ${docker}`);
    }
  });
});
