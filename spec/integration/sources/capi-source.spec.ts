/**
 * Cloud Foundry as the source, against the CAPI + UAA simulator: name resolution, tags, droplet
 * facts, downloads, token handling, and how Cloud Controller's failures reach registry clients.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { pino } from 'pino';
import { RegistryError } from '../../../src/errors/registry-error.ts';
import { createCapiSource } from '../../../src/sources/capi/create-capi-source.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { capiSourceEnv, type CfSimulator, type SeededFoundation, seedFoundation, startCfSimulator } from '../../support/cf-simulator/index.ts';
import { buildTinyRootfs, createTestRegistry, type TestRegistry } from '../../support/test-registry.ts';

function error(res: ServerInjectResponse): { code: string; message: string; detail?: { reason?: string } } {
  return JSON.parse(res.payload).errors[0];
}

describe('Cloud Foundry source', () => {
  let cf: CfSimulator;
  let seed: SeededFoundation;
  let work: string;
  let registry: TestRegistry;
  let stacks: Record<string, string>;

  const inject = (url: string, method = 'GET') => registry.registry.server.inject({ method, url });
  const capiEnv = (extra: Record<string, string> = {}) => ({
    ...capiSourceEnv(cf, seed),
    CAPI_TIMEOUT_MS: '2000',
    // Cloud Controller as the source itself, every lookup asked: the cache in front of it is spec/integration/auth/fleet-pulls.spec.ts's.
    CAPI_CACHE_TTL_MS: '0',
    ...extra,
  });
  const storedBlobs = async () => readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256')).catch(() => [] as string[]);

  before(async () => {
    cf = await startCfSimulator();
    seed = seedFoundation(cf, { dropletBytes: ({ startCommand }) => standardDroplet({ startCommand }) });
    work = await mkdtemp(join(tmpdir(), 'capi-source-'));
    const rootfs = join(work, 'rootfs.tgz');
    await writeFile(rootfs, await buildTinyRootfs());
    stacks = { cflinuxfs4: rootfs }; // cflinuxfs3 deliberately not configured
    registry = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv() });
  });

  after(async () => {
    await registry?.close();
    await cf?.stop();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    cf.faults.reset();
    cf.requests.reset();
  });

  describe('resolution', () => {
    it('serves org/space/app:latest as the current droplet, resolving the name in a call per level', async () => {
      const res = await inject('/v2/acme/development/web/manifests/latest');
      assert.equal(res.statusCode, 200, res.payload);
      assert.deepEqual(
        ['GET /v3/organizations', 'GET /v3/spaces', 'GET /v3/apps'].map((route) => cf.requests.count(route)),
        [1, 1, 1],
      );
      const manifest = JSON.parse(res.payload);
      const config = JSON.parse((await inject(`/v2/acme/development/web/blobs/${manifest.config.digest}`)).payload);
      assert.equal(config.config.Labels['org.cloudfoundry.droplet.guid'], seed.droplets.webCurrent.guid);
      assert.equal(config.config.Labels['org.cloudfoundry.app.guid'], seed.apps.web.guid);
      assert.equal(config.config.Labels['org.cloudfoundry.org.name'], 'acme');
      assert.deepEqual(config.config.Cmd, [seed.droplets.webCurrent.processTypes?.web, ''], 'web command from the unredacted droplet');
    });

    it('serves a droplet by guid, and refuses droplets of other apps', async () => {
      const previous = await inject(`/v2/acme/development/web/manifests/${seed.droplets.webPrevious.guid}`);
      assert.equal(previous.statusCode, 200, previous.payload);
      const latest = await inject('/v2/acme/development/web/manifests/latest');
      assert.notEqual(previous.headers['docker-content-digest'], latest.headers['docker-content-digest']);
      const foreign = await inject(`/v2/acme/development/web/manifests/${seed.droplets.api.guid}`);
      assert.equal(foreign.statusCode, 404);
      assert.equal(error(foreign).code, 'MANIFEST_UNKNOWN');
      cf.requests.reset();
      const notAGuid = await inject('/v2/acme/development/web/manifests/v1.0');
      assert.equal(error(notAGuid).code, 'MANIFEST_UNKNOWN');
      assert.equal(cf.requests.count('GET /v3/droplets/:guid'), 0, 'a tag that is no guid is not looked up');
    });

    it("accepts the spike's /v2/<app-guid>/ form", async () => {
      const byGuid = await inject(`/v2/${seed.apps.web.guid}/manifests/latest`);
      const byName = await inject('/v2/acme/development/web/manifests/latest');
      assert.equal(byGuid.statusCode, 200, byGuid.payload);
      assert.deepEqual(byGuid.rawPayload, byName.rawPayload);
      const unknown = await inject('/v2/00000000-0000-4000-8000-000000000000/manifests/latest');
      assert.equal(error(unknown).code, 'NAME_UNKNOWN');
    });

    it('maps names outside the OCI grammar, and refuses names several share, exact ones included', async () => {
      const org = cf.foundation.createOrg({ name: 'Acme Corp' });
      const space = cf.foundation.createSpace(org, { name: 'Dev Space' });
      const bits = await standardDroplet({ startCommand: './x' });
      for (const name of ['My App', 'hello', 'Hello', 'Twin', 'TWIN', 'solo']) cf.foundation.stage(cf.foundation.createApp(space, { name }), bits);
      assert.equal((await inject('/v2/acme-corp/dev-space/my-app/manifests/latest')).statusCode, 200);
      const solo = JSON.parse((await inject('/v2/acme-corp/dev-space/solo/tags/list')).payload);
      assert.equal(solo.name, 'acme-corp/dev-space/solo');
      for (const app of ['twin', 'hello']) {
        const ambiguous = await inject(`/v2/acme-corp/dev-space/${app}/manifests/latest`);
        assert.equal(ambiguous.statusCode, 404, app);
        assert.equal(error(ambiguous).code, 'NAME_UNKNOWN');
        assert.match(error(ambiguous).message, /is ambiguous: the apps .* all map to/);
      }
      // An org renamed onto another's form takes nothing over: both become unreachable by name.
      const squatter = cf.foundation.createOrg({ name: 'acme-corp' });
      cf.foundation.stage(cf.foundation.createApp(cf.foundation.createSpace(squatter, { name: 'dev-space' }), { name: 'my-app' }), bits);
      const squatted = await inject('/v2/acme-corp/dev-space/my-app/manifests/latest');
      assert.equal(squatted.statusCode, 404);
      assert.match(error(squatted).message, /the orgs "Acme Corp", "acme-corp" all map to "acme-corp"/);
      assert.equal(error(await inject('/v2/acme/development/nope/manifests/latest')).code, 'NAME_UNKNOWN');
      assert.equal(error(await inject('/v2/nope/development/web/manifests/latest')).code, 'NAME_UNKNOWN');
    });

    it('pages through lists longer than one page', async () => {
      const paged = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv({ CAPI_PAGE_SIZE: '2' }) });
      try {
        const org = cf.foundation.createOrg({ name: 'Paged Org' });
        const space = cf.foundation.createSpace(org, { name: 'many' });
        const bits = await standardDroplet({ startCommand: './x' });
        for (let i = 0; i < 7; i += 1) cf.foundation.createApp(space, { name: `App ${i}` });
        const target = cf.foundation.createApp(space, { name: 'The Target' });
        const guids = [1, 2, 3, 4, 5].map(() => cf.foundation.stage(target, bits).guid);
        cf.requests.reset();
        const res = await paged.registry.server.inject('/v2/paged-org/many/the-target/tags/list');
        assert.equal(res.statusCode, 200, res.payload);
        assert.deepEqual(JSON.parse(res.payload).tags, [...guids, 'latest'].sort());
        assert.ok(cf.requests.count('GET /v3/apps') >= 4, 'the 8 apps of the space came in pages of 2');
        assert.equal(cf.requests.count('GET /v3/apps/:guid/droplets'), 3, '5 droplets in pages of 2');
      } finally {
        await paged.close();
      }
    });
  });

  describe('tags and droplets', () => {
    it('lists latest and the STAGED droplets only', async () => {
      const res = await inject('/v2/acme/development/failing/tags/list');
      assert.deepEqual(JSON.parse(res.payload).tags, [seed.droplets.failingCurrent.guid, 'latest'].sort());
    });

    it('follows a restage: latest becomes the new droplet, the old one stays pullable by guid', async () => {
      const before = await inject('/v2/acme/development/web/manifests/latest');
      const restaged = cf.foundation.stage(seed.apps.web, await standardDroplet({ startCommand: './restaged.sh' }));
      const after = await inject('/v2/acme/development/web/manifests/latest');
      assert.equal(after.statusCode, 200);
      assert.notEqual(after.headers['docker-content-digest'], before.headers['docker-content-digest']);
      const config = JSON.parse((await inject(`/v2/acme/development/web/blobs/${JSON.parse(after.payload).config.digest}`)).payload);
      assert.equal(config.config.Labels['org.cloudfoundry.droplet.guid'], restaged.guid);
      assert.equal((await inject(`/v2/acme/development/web/manifests/${seed.droplets.webCurrent.guid}`)).statusCode, 200);
    });

    it('explains apps and droplets that cannot become images', async () => {
      const cases: Array<[string, string, RegExp]> = [
        ['docker-app', 'MANIFEST_UNKNOWN', /docker lifecycle/],
        ['cnb-app', 'MANIFEST_UNKNOWN', /cnb lifecycle/],
        ['legacy', 'MANIFEST_UNKNOWN', /stack cflinuxfs3 .* has no rootfs configured/],
        ['empty', 'MANIFEST_UNKNOWN', /no current droplet/],
      ];
      for (const [app, code, reason] of cases) {
        const res = await inject(`/v2/acme/development/${app}/manifests/latest`);
        assert.equal(res.statusCode, 404, app);
        assert.equal(error(res).code, code, app);
        assert.match(`${error(res).message} ${error(res).detail?.reason ?? ''}`, reason, app);
      }
    });

    it('answers MANIFEST_UNKNOWN for a deleted droplet', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'deleting' });
      const kept = cf.foundation.stage(app, await standardDroplet({ startCommand: './a' }));
      const doomed = cf.foundation.addDroplet(app, { bits: await standardDroplet({ startCommand: './b' }) });
      cf.foundation.deleteDroplet(doomed);
      assert.equal(error(await inject(`/v2/acme/development/deleting/manifests/${doomed.guid}`)).code, 'MANIFEST_UNKNOWN');
      assert.equal((await inject(`/v2/acme/development/deleting/manifests/${kept.guid}`)).statusCode, 200);
    });
  });

  describe('downloads', () => {
    it('follows the 302 to the blobstore without the Authorization header', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'fresh' });
      cf.foundation.stage(app, await standardDroplet({ startCommand: './fresh' }));
      const res = await inject('/v2/acme/development/fresh/manifests/latest');
      assert.equal(res.statusCode, 200, res.payload);
      const blobstoreCalls = cf.requests.list('blobstore');
      assert.equal(blobstoreCalls.length, 1);
      assert.equal(blobstoreCalls[0]?.hadAuthorization, false);
    });

    it('verifies sha1 checksums of old droplets too', async () => {
      const legacy = await createTestRegistry({ stacks: { ...stacks, cflinuxfs3: stacks.cflinuxfs4 as string }, dropletsDir: join(work, 'unused'), env: capiEnv() });
      try {
        const res = await legacy.registry.server.inject('/v2/acme/development/legacy/manifests/latest');
        assert.equal(res.statusCode, 200, res.payload);
      } finally {
        await legacy.close();
      }
    });

    it('fails a droplet whose checksum does not match, storing nothing', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'tampered' });
      const droplet = cf.foundation.stage(app, await standardDroplet({ startCommand: './t' }));
      cf.faults.advertiseWrongChecksum(droplet.guid);
      const blobsBefore = await storedBlobs();
      const res = await inject('/v2/acme/development/tampered/manifests/latest');
      assert.equal(res.statusCode, 404);
      assert.match(error(res).message, /does not match its sha256 checksum/);
      assert.deepEqual(await storedBlobs(), blobsBefore);
    });

    it('fails a download cut mid-stream, storing nothing, and succeeds on the next pull', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'flaky' });
      // Incompressible content, so the cut falls inside the droplet.
      cf.foundation.stage(app, await standardDroplet({ startCommand: './f', files: { 'app/big.bin': randomBytes(256 * 1024) } }));
      cf.faults.cutDownloadsAfter(1000);
      const blobsBefore = await storedBlobs();
      const cut = await inject('/v2/acme/development/flaky/manifests/latest');
      assert.equal(cut.statusCode, 503, cut.payload);
      assert.equal(error(cut).code, 'UNAVAILABLE');
      assert.ok(Number(cut.headers['retry-after']) > 0);
      assert.deepEqual(await storedBlobs(), blobsBefore);
      assert.equal((await inject('/v2/acme/development/flaky/manifests/latest')).statusCode, 200);
    });
  });

  describe('Cloud Controller and UAA failures', () => {
    for (const status of [500, 502, 503] as const) {
      it(`answers 503 UNAVAILABLE with Retry-After when CAPI answers ${status}, caching nothing`, async () => {
        cf.faults.failNext(1, status);
        const res = await inject('/v2/acme/development/web/tags/list');
        assert.equal(res.statusCode, 503);
        assert.equal(error(res).code, 'UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) > 0);
        const line = registry.logs.findLast((entry) => entry.event === 'upstream.failed');
        assert.equal(line?.status, status);
        assert.match(String(line?.msg), /Cloud Controller failed \(GET \/v3\/organizations/, "the first call of the name's resolution");
        assert.equal((await inject('/v2/acme/development/web/tags/list')).statusCode, 200);
      });
    }

    it("passes CAPI's rate limit on as 503 with a sensible Retry-After", async () => {
      cf.faults.failNext(1, 429);
      const res = await inject('/v2/acme/development/web/tags/list');
      assert.equal(res.statusCode, 503);
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter} is a delay, not CC's epoch`);
    });

    it('times out a slow Cloud Controller', async () => {
      cf.faults.delayNext(1, 4000);
      const res = await inject('/v2/acme/development/web/tags/list');
      assert.equal(res.statusCode, 503);
      assert.match(error(res).message, /Cloud Controller is unreachable \(timed out\)/);
    });

    it('fetches one token, reuses it, and renews it before it expires', async () => {
      cf.uaa.setAccessTokenValidity(seed.serviceClient.id, 2);
      const renewing = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv() });
      try {
        cf.requests.reset();
        await Promise.all([1, 2, 3].map(() => renewing.registry.server.inject('/v2/acme/development/web/tags/list')));
        assert.equal(cf.requests.count('POST /oauth/token'), 1, 'concurrent calls share one token');
        await new Promise((resolve) => setTimeout(resolve, 1700)); // past 80% of the 2 s lifetime
        assert.equal((await renewing.registry.server.inject('/v2/acme/development/web/tags/list')).statusCode, 200);
        assert.equal(cf.requests.count('POST /oauth/token'), 2);
      } finally {
        cf.uaa.setAccessTokenValidity(seed.serviceClient.id, 43200);
        await renewing.close();
      }
    });

    it('retries once with a new token when CAPI rejects the cached one', async () => {
      await inject('/v2/acme/development/web/tags/list');
      const keys = (await (await fetch(`${cf.uaaUrl}/token_keys`)).json()) as { keys: Array<{ kid: string }> };
      cf.uaa.rotateKey();
      for (const { kid } of keys.keys) cf.uaa.removeKey(kid); // the cached token no longer verifies
      cf.requests.reset();
      const res = await inject('/v2/acme/development/web/tags/list');
      assert.equal(res.statusCode, 200, res.payload);
      assert.equal(cf.requests.count('POST /oauth/token'), 1);
    });

    it('answers 503 and tells operators when UAA refuses the service credentials', async () => {
      cf.faults.rejectClientCredentials(seed.serviceClient.id);
      const refused = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv() });
      try {
        const res = await refused.registry.server.inject('/v2/acme/development/web/tags/list');
        assert.equal(res.statusCode, 503);
        assert.doesNotMatch(res.payload, new RegExp(seed.serviceClient.secret));
        const line = refused.logs.find((entry) => entry.event === 'upstream.credentials_refused');
        assert.match(String(line?.msg), /UAA refused the registry's service credentials .*check UAA_CLIENT_ID\/UAA_CLIENT_SECRET/);
        assert.ok(!JSON.stringify(refused.logs).includes(seed.serviceClient.secret), 'the secret never reaches a log');
      } finally {
        await refused.close();
      }
    });

    it('discovers UAA from the root links, and uses UAA_URL when set', async () => {
      cf.requests.reset();
      const discovering = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv() });
      await discovering.registry.server.inject('/v2/acme/development/web/tags/list');
      assert.equal(cf.requests.count('GET /'), 1);
      await discovering.close();
      cf.requests.reset();
      const configured = await createTestRegistry({ stacks, dropletsDir: join(work, 'unused'), env: capiEnv({ UAA_URL: cf.uaaUrl }) });
      assert.equal((await configured.registry.server.inject('/v2/acme/development/web/tags/list')).statusCode, 200);
      assert.equal(cf.requests.count('GET /'), 0);
      await configured.close();
    });
  });

  describe('lookupDroplet (a droplet known only by its guid)', () => {
    const source = () =>
      createCapiSource(
        { capiUrl: cf.capiUrl, capiCaCert: '', uaaUrl: cf.uaaUrl, uaaCaCert: '', clientId: seed.serviceClient.id, clientSecret: seed.serviceClient.secret, timeoutMs: 2000, pageSize: 50, maxPages: 10, blobstoreCaCert: '', downloadIdleTimeoutMs: 2000 },
        pino({ level: 'silent' }),
      ).source;

    it('finds the droplet and its app, org and space', async () => {
      const found = await source().lookupDroplet(seed.droplets.webPrevious.guid);
      assert.ok(found);
      assert.equal(found.droplet.guid, seed.droplets.webPrevious.guid);
      assert.equal(found.droplet.state, 'STAGED');
      assert.equal(found.droplet.stack, 'cflinuxfs4');
      assert.deepEqual(found.app, {
        guid: seed.apps.web.guid,
        name: 'web',
        space: { guid: seed.spaces.development.guid, name: 'development' },
        org: { guid: seed.spaces.development.orgGuid, name: 'acme' },
      });
      assert.equal((await source().lookupDroplet(seed.droplets.failingFailed.guid))?.droplet.state, 'FAILED', 'droplets in any state exist');
    });

    it('answers null for a deleted, an unknown and a malformed guid', async () => {
      const app = cf.foundation.createApp(seed.spaces.development, { name: 'looked-up' });
      const doomed = cf.foundation.addDroplet(app, { bits: await standardDroplet({ startCommand: './b' }) });
      assert.ok(await source().lookupDroplet(doomed.guid));
      cf.foundation.deleteDroplet(doomed);
      assert.equal(await source().lookupDroplet(doomed.guid), null);
      assert.equal(await source().lookupDroplet('00000000-0000-4000-8000-000000000000'), null);
      cf.requests.reset();
      assert.equal(await source().lookupDroplet('../v3/apps'), null);
      assert.equal(cf.requests.count('GET /v3/droplets/:guid'), 0, 'a value that is no guid is not sent to CAPI');
    });

    it('throws UNAVAILABLE, never null, when Cloud Controller fails', async () => {
      cf.faults.failNext(1, 503, { route: 'GET /v3/droplets/:guid' });
      await assert.rejects(source().lookupDroplet(seed.droplets.webCurrent.guid), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
      cf.faults.failNext(1, 502, { route: 'GET /v3/apps/:guid' });
      await assert.rejects(source().lookupDroplet(seed.droplets.webCurrent.guid), (error: unknown) => error instanceof RegistryError && error.code === 'UNAVAILABLE');
    });
  });
});
