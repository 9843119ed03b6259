/**
 * `GET /v3/droplets/:guid/download`: every row of the reference's role table, the 422/404 cases
 * in CC's order, and the 302 to the blobstore, whose signed URL works only without an
 * Authorization header, unaltered and unexpired.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DOWNLOAD_MATRIX, type CfSimulator, type MatrixRole, type SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, send, startSeeded, userToken } from './simulator-client.ts';

describe('cf-simulator droplet download', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let service: string;
  const downloadPath = (guid: string) => `/v3/droplets/${guid}/download`;

  before(async () => {
    ({ cf, seeded } = await startSeeded());
    service = await clientToken(cf, seeded.serviceClient);
  });
  after(() => cf.stop());

  for (const [role, expected] of Object.entries(DOWNLOAD_MATRIX) as Array<[MatrixRole, 302 | 403 | 404]>) {
    it(`answers ${expected} to ${role}`, async () => {
      const reply = await capiGet(cf, downloadPath(seeded.droplets.webCurrent.guid), await userToken(cf, seeded.users[role]));
      assert.equal(reply.status, expected);
      if (expected === 302) assert.ok(reply.headers.get('location')?.startsWith(`${cf.blobstoreUrl}/read/cc-droplets/`));
      if (expected === 403) assert.deepEqual(reply.body, { errors: [{ detail: 'You are not authorized to perform the requested action', title: 'CF-NotAuthorized', code: 10003 }] });
      if (expected === 404) assert.deepEqual(reply.body, { errors: [{ detail: 'Droplet not found', title: 'CF-ResourceNotFound', code: 10010 }] });
    });
  }

  it('lets the space supporter read the app and droplet it may not download', async () => {
    const supporter = await userToken(cf, seeded.users.space_supporter);
    assert.equal((await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}`, supporter)).status, 200);
    assert.equal((await capiGet(cf, `/v3/droplets/${seeded.droplets.webCurrent.guid}`, supporter)).status, 200);
  });

  it('redirects to a signed blobstore URL that serves the droplet to a client without Authorization', async () => {
    const redirect = await capiGet(cf, downloadPath(seeded.droplets.webCurrent.guid), service);
    assert.equal(redirect.status, 302);
    const location = new URL(redirect.headers.get('location') ?? '');
    const guid = seeded.droplets.webCurrent.guid;
    assert.match(location.pathname, new RegExp(`^/read/cc-droplets/${guid.slice(0, 2)}/${guid.slice(2, 4)}/${guid}/[0-9a-f]{40}$`));
    assert.match(location.searchParams.get('md5') ?? '', /^[A-Za-z0-9_-]{22}$/);
    const expires = Number(location.searchParams.get('expires'));
    assert.ok(expires > Date.now() / 1000 + 3500 && expires <= Date.now() / 1000 + 3600);

    const response = await fetch(location, { redirect: 'manual' });
    assert.equal(response.status, 200);
    const bytes = Buffer.from(await response.arrayBuffer());
    const droplet = await capiGet(cf, `/v3/droplets/${guid}`, service);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), droplet.body.checksum.value);
    assert.equal(createHash('sha1').update(bytes).digest('hex'), location.pathname.split('/').pop());
    assert.equal(bytes.subarray(0, 2).toString('hex'), '1f8b');
  });

  it('refuses the signed URL when the request carries an Authorization header', async () => {
    const location = (await capiGet(cf, downloadPath(seeded.droplets.webCurrent.guid), service)).headers.get('location') ?? '';
    const withAuthorization = await send(location, { headers: { Authorization: `bearer ${service}` } });
    assert.equal(withAuthorization.status, 400);
    const withoutAuthorization = await send(location);
    assert.equal(withoutAuthorization.status, 200);
    const blobstoreRequests = cf.requests.list('blobstore').slice(-2);
    assert.deepEqual(blobstoreRequests.map((request) => request.hadAuthorization), [true, false]);
  });

  it('is followed by fetch without the Authorization header (cross-origin redirect)', async () => {
    const response = await fetch(`${cf.capiUrl}${downloadPath(seeded.droplets.webCurrent.guid)}`, { headers: { Authorization: `bearer ${service}` } });
    assert.equal(response.status, 200);
    assert.equal(cf.requests.list('blobstore').at(-1)?.hadAuthorization, false);
    await response.arrayBuffer();
  });

  it('answers 403 to a forged signature and 410 to an expired link', async () => {
    const location = new URL((await capiGet(cf, downloadPath(seeded.droplets.webCurrent.guid), service)).headers.get('location') ?? '');
    const forged = new URL(location);
    forged.searchParams.set('expires', String(Number(location.searchParams.get('expires')) + 60));
    assert.equal((await send(forged.href)).status, 403);
    const otherPath = new URL(location);
    otherPath.pathname = otherPath.pathname.replace(seeded.droplets.webCurrent.guid, seeded.droplets.webPrevious.guid);
    assert.equal((await send(otherPath.href)).status, 403);

    cf.faults.expireSignedUrls = true;
    try {
      const expired = (await capiGet(cf, downloadPath(seeded.droplets.webCurrent.guid), service)).headers.get('location') ?? '';
      assert.equal((await send(expired)).status, 410);
    } finally {
      cf.faults.expireSignedUrls = false;
    }
  });

  it('refuses docker, cnb and non-staged droplets with 422, in CC’s wording', async () => {
    const docker = await capiGet(cf, downloadPath(seeded.droplets.docker.guid), service);
    assert.deepEqual(docker.body, { errors: [{ detail: "Cannot download droplets with 'docker' lifecycle.", title: 'CF-UnprocessableEntity', code: 10008 }] });
    const cnb = await capiGet(cf, downloadPath(seeded.droplets.cnb.guid), service);
    assert.equal(cnb.status, 422);
    const failed = await capiGet(cf, downloadPath(seeded.droplets.failingFailed.guid), service);
    assert.deepEqual(failed.body, { errors: [{ detail: 'Only staged droplets can be downloaded.', title: 'CF-UnprocessableEntity', code: 10008 }] });
  });

  it('checks visibility and role before lifecycle and state', async () => {
    const supporter = await userToken(cf, seeded.users.space_supporter);
    assert.equal((await capiGet(cf, downloadPath(seeded.droplets.docker.guid), supporter)).status, 403);
    const developer = await userToken(cf, seeded.users.space_developer);
    assert.equal((await capiGet(cf, downloadPath(seeded.droplets.api.guid), developer)).status, 404);
  });

  it('answers 404 for a staged droplet with no bits in the blobstore', async () => {
    const droplet = cf.foundation.addDroplet(seeded.apps.web);
    const reply = await capiGet(cf, downloadPath(droplet.guid), service);
    assert.deepEqual(reply.body, { errors: [{ detail: 'Blobstore key not present on droplet. This may be due to a failed build.', title: 'CF-ResourceNotFound', code: 10010 }] });
    cf.foundation.deleteDroplet(droplet);
  });

  it('records an audit.app.droplet.download event attributed to the user', async () => {
    const developer = seeded.users.space_developer;
    await capiGet(cf, downloadPath(seeded.droplets.webPrevious.guid), await userToken(cf, developer));
    const event = cf.foundation.events().filter((candidate) => candidate.type === 'audit.app.droplet.download').at(-1);
    assert.deepEqual(
      { actor: event?.actor, target: event?.target, data: event?.data, space: event?.spaceGuid },
      {
        actor: { guid: developer.guid, type: 'user', name: developer.username },
        target: { guid: seeded.apps.web.guid, type: 'app', name: 'web' },
        data: { droplet_guid: seeded.droplets.webPrevious.guid },
        space: seeded.spaces.development.guid,
      },
    );
  });
});
