/**
 * The simulated CAPI's discovery documents, lists and lookups against the reference: pagination
 * hrefs (sorted keys, escaped commas, filters repeated) over three pages, filters, `include`,
 * visibility by role, query validation and error bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CfSimulator, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, send, startSeeded, userToken } from './simulator-client.ts';

describe('cf-simulator CAPI lists and lookups', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let service: string;

  before(async () => {
    ({ cf, seeded } = await startSeeded());
    service = await clientToken(cf, seeded.serviceClient);
  });
  after(() => cf.stop());

  it('serves the root links anonymously, with login and uaa pointing at UAA', async () => {
    const root = await capiGet(cf, '/');
    assert.equal(root.status, 200);
    assert.deepEqual(root.body.links.self, { href: cf.capiUrl });
    assert.deepEqual(root.body.links.cloud_controller_v3.href, `${cf.capiUrl}/v3`);
    assert.equal(typeof root.body.links.cloud_controller_v3.meta.version, 'string');
    assert.deepEqual(root.body.links.login, { href: cf.uaaUrl });
    assert.deepEqual(root.body.links.uaa, { href: cf.uaaUrl });
    assert.equal(root.body.links.credhub, null);
    assert.equal('cloud_controller_v2' in root.body.links, false);
    const v3 = await capiGet(cf, '/v3');
    assert.deepEqual(v3.body.links.droplets, { href: `${cf.capiUrl}/v3/droplets` });
    const info = await capiGet(cf, '/v3/info');
    assert.equal(info.status, 200);
    assert.deepEqual(info.body.links.self, { href: `${cf.capiUrl}/v3/info` });
  });

  it('pages through apps with CC pagination objects and hrefs that repeat the filters', async () => {
    // 7 apps visible to the service client: 3 pages of 3.
    const path = '/v3/apps?per_page=3&order_by=name&include=space&organization_guids=' + seeded.org.guid;
    const first = await capiGet(cf, path, service);
    assert.equal(first.status, 200);
    const href = (page: number) => `${cf.capiUrl}/v3/apps?include=space&order_by=name&organization_guids=${seeded.org.guid}&page=${page}&per_page=3`;
    assert.deepEqual(first.body.pagination, { total_results: 7, total_pages: 3, first: { href: href(1) }, last: { href: href(3) }, next: { href: href(2) }, previous: null });

    const second = await send(first.body.pagination.next.href, { headers: { Authorization: `bearer ${service}` } });
    assert.deepEqual(second.body.pagination.previous, { href: href(1) });
    assert.deepEqual(second.body.pagination.next, { href: href(3) });
    const third = await send(second.body.pagination.next.href, { headers: { Authorization: `bearer ${service}` } });
    assert.equal(third.body.pagination.next, null);
    assert.deepEqual(third.body.pagination.previous, { href: href(2) });

    const names = [first, second, third].flatMap((reply) => reply.body.resources.map((app: { name: string }) => app.name));
    assert.deepEqual(names, ['api', 'cnb-app', 'docker-app', 'empty', 'failing', 'legacy', 'web']);
    assert.deepEqual(third.body.included.spaces.map((space: { name: string }) => space.name), ['development']);
  });

  it('escapes commas of list filters in hrefs and applies them', async () => {
    const reply = await capiGet(cf, '/v3/apps?names=web,legacy', service);
    assert.deepEqual(reply.body.resources.map((app: { name: string }) => app.name), ['web', 'legacy']);
    assert.equal(reply.body.pagination.first.href, `${cf.capiUrl}/v3/apps?names=web%2Clegacy&page=1&per_page=50`);
    const escaped = await capiGet(cf, '/v3/apps?names=web%2Clegacy', service);
    assert.equal(escaped.body.pagination.total_results, 2);
  });

  it('resolves org, space and app in one call with include=space.organization', async () => {
    const reply = await capiGet(cf, `/v3/apps?names=web&space_guids=${seeded.spaces.development.guid}&include=space.organization`, service);
    assert.equal(reply.body.resources.length, 1);
    const app = reply.body.resources[0];
    assert.equal(app.guid, seeded.apps.web.guid);
    assert.deepEqual(app.relationships, { space: { data: { guid: seeded.spaces.development.guid } }, current_droplet: { data: { guid: seeded.droplets.webCurrent.guid } } });
    assert.deepEqual(app.lifecycle, { type: 'buildpack', data: { buildpacks: ['nodejs_buildpack'], stack: 'cflinuxfs4' } });
    assert.deepEqual(app.links.current_droplet, { href: `${cf.capiUrl}/v3/apps/${app.guid}/droplets/current` });
    assert.deepEqual(reply.body.included.spaces.map((space: { guid: string }) => space.guid), [seeded.spaces.development.guid]);
    assert.deepEqual(reply.body.included.organizations.map((org: { name: string }) => org.name), ['acme']);
    const orgOnly = await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}?include=org`, service);
    assert.deepEqual(Object.keys(orgOnly.body.included), ['organizations']);
    const docker = await capiGet(cf, `/v3/apps/${seeded.apps.docker.guid}`, service);
    assert.deepEqual(docker.body.lifecycle, { type: 'docker', data: {} });
    const empty = await capiGet(cf, `/v3/apps/${seeded.apps.empty.guid}`, service);
    assert.deepEqual(empty.body.relationships.current_droplet, { data: { guid: null } });
  });

  it('filters orgs and spaces, with include=organization on spaces', async () => {
    const orgs = await capiGet(cf, '/v3/organizations?names=acme', service);
    assert.deepEqual(orgs.body.resources.map((org: { guid: string }) => org.guid), [seeded.org.guid]);
    assert.deepEqual(orgs.body.resources[0].relationships.quota.data.guid.length, 36);
    const spaces = await capiGet(cf, `/v3/spaces?names=development&organization_guids=${seeded.org.guid}&include=organization`, service);
    assert.deepEqual(spaces.body.resources.map((space: { name: string }) => space.name), ['development']);
    assert.deepEqual(spaces.body.resources[0].relationships, { organization: { data: { guid: seeded.org.guid } }, quota: { data: null } });
    assert.deepEqual(spaces.body.resources[0].links.apply_manifest.method, 'POST');
    assert.deepEqual(spaces.body.included.organizations.map((org: { guid: string }) => org.guid), [seeded.org.guid]);
  });

  it('answers an empty result with 200 and one (empty) page', async () => {
    const reply = await capiGet(cf, '/v3/apps?names=nope', service);
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.resources, []);
    assert.equal(reply.body.pagination.total_results, 0);
    assert.equal(reply.body.pagination.total_pages, 1);
    assert.equal(reply.body.pagination.next, null);
  });

  it('refuses unknown and invalid query parameters with CF-BadQueryParameter', async () => {
    const unknown = await capiGet(cf, '/v3/apps?name=web', service);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errors[0].title, 'CF-BadQueryParameter');
    assert.equal(unknown.body.errors[0].code, 10005);
    assert.match(unknown.body.errors[0].detail, /^The query parameter is invalid: Unknown query parameter\(s\): 'name'\. Valid parameters are: 'page', 'per_page', 'order_by', 'names'/);
    const tooBig = await capiGet(cf, '/v3/apps?per_page=5001', service);
    assert.equal(tooBig.body.errors[0].detail, 'The query parameter is invalid: Per page must be between 1 and 5000');
    const zero = await capiGet(cf, '/v3/droplets?page=0&order_by=name', service);
    assert.equal(zero.body.errors[0].detail, "The query parameter is invalid: Page must be a positive integer, Order by can only be: 'created_at', 'updated_at'");
    const include = await capiGet(cf, '/v3/apps?include=droplet', service);
    assert.equal(include.status, 400);
    const current = await capiGet(cf, '/v3/droplets?current=true', service);
    assert.equal(current.body.errors[0].detail, "The query parameter is invalid: Unknown query parameter(s): 'current'");
  });

  it('lists an app’s droplets newest first, by state, or only the current one', async () => {
    const path = `/v3/apps/${seeded.apps.web.guid}/droplets`;
    const newest = await capiGet(cf, `${path}?order_by=-created_at`, service);
    assert.deepEqual(newest.body.resources.map((droplet: { guid: string }) => droplet.guid), [seeded.droplets.webCurrent.guid, seeded.droplets.webPrevious.guid]);
    assert.match(newest.body.pagination.first.href, /\?order_by=-created_at&page=1&per_page=50$/);
    const current = await capiGet(cf, `${path}?current=true`, service);
    assert.deepEqual(current.body.resources.map((droplet: { guid: string }) => droplet.guid), [seeded.droplets.webCurrent.guid]);
    const failed = await capiGet(cf, `/v3/apps/${seeded.apps.failing.guid}/droplets?states=FAILED`, service);
    assert.deepEqual(failed.body.resources.map((droplet: { guid: string }) => droplet.guid), [seeded.droplets.failingFailed.guid]);
    const all = await capiGet(cf, `/v3/droplets?app_guids=${seeded.apps.web.guid},${seeded.apps.legacy.guid}&states=STAGED`, service);
    assert.equal(all.body.pagination.total_results, 3);
    const relationship = await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}/relationships/current_droplet`, service);
    assert.deepEqual(relationship.body, {
      data: { guid: seeded.droplets.webCurrent.guid },
      links: {
        self: { href: `${cf.capiUrl}/v3/apps/${seeded.apps.web.guid}/relationships/current_droplet` },
        related: { href: `${cf.capiUrl}/v3/apps/${seeded.apps.web.guid}/droplets/current` },
      },
    });
    const none = await capiGet(cf, `/v3/apps/${seeded.apps.empty.guid}/droplets/current`, service);
    assert.deepEqual(none.body, { errors: [{ detail: 'Droplet not found', title: 'CF-ResourceNotFound', code: 10010 }] });
    const noRelationship = await capiGet(cf, `/v3/apps/${seeded.apps.empty.guid}/relationships/current_droplet`, service);
    assert.equal(noRelationship.status, 404);
  });

  it('lists stacks', async () => {
    const reply = await capiGet(cf, '/v3/stacks?names=cflinuxfs4', service);
    assert.equal(reply.body.resources.length, 1);
    const stack = reply.body.resources[0];
    assert.equal(stack.default, true);
    assert.equal(stack.run_rootfs_image, 'cflinuxfs4');
    assert.equal(stack.state, 'ACTIVE');
  });

  it('shows each user only the orgs, spaces and apps their roles reach, hiding the rest as 404', async () => {
    const developer = await userToken(cf, seeded.users.space_developer);
    const apps = await capiGet(cf, '/v3/apps', developer);
    assert.equal(apps.body.pagination.total_results, 6);
    const hidden = await capiGet(cf, `/v3/apps/${seeded.apps.api.guid}`, developer);
    assert.deepEqual(hidden.body, { errors: [{ detail: 'App not found', title: 'CF-ResourceNotFound', code: 10010 }] });
    const hiddenDroplet = await capiGet(cf, `/v3/droplets/${seeded.droplets.api.guid}`, developer);
    assert.equal(hiddenDroplet.body.errors[0].detail, 'Droplet not found');

    const orgAuditor = await userToken(cf, seeded.users.org_auditor);
    assert.equal((await capiGet(cf, '/v3/organizations', orgAuditor)).body.pagination.total_results, 1);
    assert.equal((await capiGet(cf, '/v3/spaces', orgAuditor)).body.pagination.total_results, 0);
    assert.equal((await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}`, orgAuditor)).status, 404);

    const orgManager = await userToken(cf, seeded.users.org_manager);
    assert.equal((await capiGet(cf, '/v3/spaces', orgManager)).body.pagination.total_results, 2);

    const stranger = await userToken(cf, seeded.users.no_role);
    assert.equal((await capiGet(cf, '/v3/organizations', stranger)).body.pagination.total_results, 0);
  });

  it('answers unknown paths with CF-NotFound', async () => {
    const reply = await capiGet(cf, '/v3/nothing-here', service);
    assert.deepEqual(reply.body, { errors: [{ detail: 'Unknown request', title: 'CF-NotFound', code: 10000 }] });
  });
});

describe('cf-simulator CAPI with an external links base', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;

  before(async () => {
    ({ cf, seeded } = await startSeeded({ linksBase: 'https://api.example.org' }));
  });
  after(() => cf.stop());

  it('writes links and pagination hrefs with the external URL, as real CC does', async () => {
    const token = await clientToken(cf, seeded.serviceClient);
    const reply = await capiGet(cf, '/v3/apps?names=web', token);
    assert.equal(reply.body.pagination.first.href, 'https://api.example.org/v3/apps?names=web&page=1&per_page=50');
    assert.equal(reply.body.resources[0].links.self.href, `https://api.example.org/v3/apps/${seeded.apps.web.guid}`);
  });
});
