/**
 * Who may pull, for every row of the droplet-download matrix (reference §1.10), against the
 * simulator's Cloud Controller: a user logs in (with their password, and with a UAA token as
 * `cf oauth-token` prints it), asks for a token for `acme/development/web`, then pulls.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { DOWNLOAD_MATRIX, type MatrixRole, type SeededUser } from '../../support/cf-simulator/index.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { ociError, startAuthWorld, tokenOf, tokenRequest, WEB, type AuthWorld } from './auth-world.ts';

/** What a pull answers for each answer Cloud Controller gives the user's download. */
const PULL: Record<302 | 403 | 404, { status: number; code?: string }> = {
  302: { status: 200 },
  403: { status: 403, code: 'DENIED' },
  404: { status: 404, code: 'NAME_UNKNOWN' },
};

describe('pulls per role of the download matrix', () => {
  let world: AuthWorld;
  let registry: TestRegistry;

  const inject = (url: string, token: string, method = 'GET') => registry.registry.server.inject({ method, url, headers: { authorization: `Bearer ${token}` } });

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

  before(async () => {
    world = await startAuthWorld();
    registry = await world.openRegistry();
  });

  after(async () => {
    await registry?.close();
    await world?.stop();
  });

  for (const [role, download] of Object.entries(DOWNLOAD_MATRIX) as Array<[MatrixRole, 302 | 403 | 404]>) {
    const expected = PULL[download];
    it(`${role}: Cloud Controller answers ${download} to the download, so a pull answers ${expected.status} ${expected.code ?? ''}`, async () => {
      const user = world.seed.users[role];
      const byPassword = tokenOf(await registry.registry.server.inject(tokenRequest(user, [`repository:${WEB}:pull`])));
      const byUaaToken = tokenOf(await registry.registry.server.inject(tokenRequest({ username: 'ignored', password: await cfOauthToken(user) }, [`repository:${WEB}:pull`])));
      for (const [login, token] of [['password', byPassword], ['UAA token', byUaaToken]] as const) {
        const manifest = await inject(`/v2/${WEB}/manifests/latest`, token);
        assertPull(manifest, expected, `${role} (${login}) GET manifest`);
        assertPull(await inject(`/v2/${WEB}/manifests/latest`, token, 'HEAD'), { status: expected.status }, `${role} (${login}) HEAD manifest`);
        assertPull(await inject(`/v2/${WEB}/tags/list`, token), expected, `${role} (${login}) tags`);
        if (expected.status === 200) {
          const { config } = JSON.parse(manifest.payload) as { config: { digest: string } };
          assertPull(await inject(`/v2/${WEB}/blobs/${config.digest}`, token), expected, `${role} (${login}) blob`);
        }
      }
    });
  }

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

  it('decides for an app without droplets by whether the user sees it, and for a docker app by its download (CC checks roles before the 422)', async () => {
    const empty = 'acme/development/empty';
    const docker = 'acme/development/docker-app';
    const expected: Array<[MatrixRole, string, string]> = [
      ['space_developer', 'MANIFEST_UNKNOWN', 'MANIFEST_UNKNOWN'],
      ['space_supporter', 'MANIFEST_UNKNOWN', 'DENIED'],
      ['org_auditor', 'NAME_UNKNOWN', 'NAME_UNKNOWN'],
    ];
    for (const [role, forEmpty, forDocker] of expected) {
      const token = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users[role], [`repository:${empty}:pull`, `repository:${docker}:pull`])));
      assert.equal(ociError(await inject(`/v2/${empty}/manifests/latest`, token)).code, forEmpty, `${role} ${empty}`);
      assert.equal(ociError(await inject(`/v2/${docker}/manifests/latest`, token)).code, forDocker, `${role} ${docker}`);
    }
  });
});
