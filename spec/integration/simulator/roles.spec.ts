/**
 * The simulated CAPI's `/v3/roles` against `roles_controller.rb`: role shapes (space roles link
 * their space, org roles their org), pagination, the ANDed filters, `include`, who sees which
 * roles, and the 422 this controller answers to bad parameters.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CfSimulator, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, send, startSeeded, userToken } from './simulator-client.ts';

interface RoleJson {
  guid: string;
  type: string;
  relationships: { user: { data: { guid: string } }; space: { data: { guid: string } | null }; organization: { data: { guid: string } | null } };
}

/** Seeded: each of the seven role holders is an org member (`organization_user`) plus their role. */
const SEEDED_ROLES = 14;

describe('cf-simulator CAPI /v3/roles', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let service: string;
  const types = (roles: RoleJson[]) => roles.map((role) => role.type).sort();

  before(async () => {
    ({ cf, seeded } = await startSeeded());
    service = await clientToken(cf, seeded.serviceClient);
  });
  after(() => cf.stop());

  it('presents a space role with its space and an org role with its org, the other relationship null', async () => {
    const developer = seeded.users.space_developer.guid;
    const reply = await capiGet(cf, `/v3/roles?user_guids=${developer}`, service);
    assert.equal(reply.status, 200);
    const [membership, space] = reply.body.resources;
    assert.equal(reply.body.resources.length, 2);
    assert.match(space.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.deepEqual(space, {
      guid: space.guid,
      created_at: space.created_at,
      updated_at: space.updated_at,
      type: 'space_developer',
      relationships: { user: { data: { guid: developer } }, space: { data: { guid: seeded.spaces.development.guid } }, organization: { data: null } },
      links: {
        self: { href: `${cf.capiUrl}/v3/roles/${space.guid}` },
        user: { href: `${cf.capiUrl}/v3/users/${developer}` },
        space: { href: `${cf.capiUrl}/v3/spaces/${seeded.spaces.development.guid}` },
      },
    });
    assert.equal(membership.type, 'organization_user');
    assert.deepEqual(membership.relationships, { user: { data: { guid: developer } }, space: { data: null }, organization: { data: { guid: seeded.org.guid } } });
    assert.deepEqual(membership.links.organization, { href: `${cf.capiUrl}/v3/organizations/${seeded.org.guid}` });
    assert.equal('space' in membership.links, false);

    const shown = await capiGet(cf, `/v3/roles/${space.guid}`, service);
    assert.deepEqual(shown.body, space);
  });

  it('pages through every role in creation order, hrefs repeating the filters', async () => {
    const first = await capiGet(cf, `/v3/roles?per_page=6&organization_guids=${seeded.org.guid},${seeded.org.guid}`, service);
    // A space role has no organization: the org filter leaves the seven org memberships and the three org roles.
    assert.equal(first.body.pagination.total_results, 10);
    assert.equal(first.body.pagination.total_pages, 2);
    const href = (page: number) => `${cf.capiUrl}/v3/roles?organization_guids=${seeded.org.guid}%2C${seeded.org.guid}&page=${page}&per_page=6`;
    assert.deepEqual(first.body.pagination.first, { href: href(1) });
    assert.deepEqual(first.body.pagination.next, { href: href(2) });
    const second = await send(first.body.pagination.next.href, { headers: { Authorization: `bearer ${service}` } });
    assert.equal(second.body.pagination.next, null);
    assert.equal(second.body.resources.length, 4);
    const all = await capiGet(cf, '/v3/roles', service);
    assert.equal(all.body.pagination.total_results, SEEDED_ROLES);
    const paged = [...first.body.resources, ...second.body.resources].map((role: RoleJson) => role.guid);
    const orgRolesInOrder = all.body.resources.filter((role: RoleJson) => role.relationships.organization.data !== null).map((role: RoleJson) => role.guid);
    assert.deepEqual(paged, orgRolesInOrder);
    const reversed = await capiGet(cf, '/v3/roles?order_by=-created_at', service);
    assert.deepEqual(reversed.body.resources.map((role: RoleJson) => role.guid), all.body.resources.map((role: RoleJson) => role.guid).reverse());
  });

  it('ANDs its filters: a user in a space, a user in an org, types, guids', async () => {
    const auditor = seeded.users.global_auditor.guid;
    const developer = seeded.users.space_developer.guid;
    const inSpace = await capiGet(cf, `/v3/roles?user_guids=${developer},${auditor}&space_guids=${seeded.spaces.development.guid}`, service);
    assert.deepEqual(types(inSpace.body.resources), ['space_developer']);
    const inOrg = await capiGet(cf, `/v3/roles?user_guids=${developer}&organization_guids=${seeded.org.guid}`, service);
    assert.deepEqual(types(inOrg.body.resources), ['organization_user']);
    const elsewhere = await capiGet(cf, `/v3/roles?user_guids=${developer}&space_guids=${seeded.spaces.production.guid}`, service);
    assert.equal(elsewhere.body.pagination.total_results, 0);
    const managers = await capiGet(cf, '/v3/roles?types=space_manager,organization_manager', service);
    assert.deepEqual(
      managers.body.resources.map((role: RoleJson) => [role.type, role.relationships.user.data.guid]),
      [['space_manager', seeded.users.space_manager.guid], ['organization_manager', seeded.users.org_manager.guid]],
    );
    const byGuid = await capiGet(cf, `/v3/roles?guids=${managers.body.resources[1].guid}`, service);
    assert.deepEqual(types(byGuid.body.resources), ['organization_manager']);
    // A global auditor holds no role: the scope is UAA's, not Cloud Controller's.
    const none = await capiGet(cf, `/v3/roles?user_guids=${auditor}`, service);
    assert.deepEqual(none.body.resources, []);
  });

  it('includes users (names from UAA), the spaces of space roles and the orgs of org roles', async () => {
    const supporter = seeded.users.space_supporter;
    const reply = await capiGet(cf, `/v3/roles?user_guids=${supporter.guid}&include=user,space,organization`, service);
    const user = reply.body.included.users;
    assert.equal(user.length, 1);
    assert.deepEqual(user[0], {
      guid: supporter.guid,
      created_at: user[0].created_at,
      updated_at: user[0].updated_at,
      username: supporter.username,
      presentation_name: supporter.username,
      origin: 'uaa',
      metadata: { labels: {}, annotations: {} },
      links: { self: { href: `${cf.capiUrl}/v3/users/${supporter.guid}` } },
    });
    assert.deepEqual(reply.body.included.spaces.map((space: { guid: string }) => space.guid), [seeded.spaces.development.guid]);
    assert.deepEqual(reply.body.included.organizations.map((org: { guid: string }) => org.guid), [seeded.org.guid]);
    const spaceOnly = await capiGet(cf, `/v3/roles?user_guids=${supporter.guid}&space_guids=${seeded.spaces.development.guid}&include=organization`, service);
    assert.deepEqual(spaceOnly.body.included, { organizations: [] });
    const shown = await capiGet(cf, `/v3/roles/${spaceOnly.body.resources[0].guid}?include=space`, service);
    assert.deepEqual(Object.keys(shown.body.included), ['spaces']);
  });

  it('shows each caller only the roles of spaces they can read and orgs they belong to', async () => {
    const asUser = async (role: keyof SeededFoundation['users']) => capiGet(cf, '/v3/roles?per_page=100', await userToken(cf, seeded.users[role]));
    assert.equal((await asUser('global_auditor')).body.pagination.total_results, SEEDED_ROLES);
    assert.equal((await asUser('space_supporter')).body.pagination.total_results, SEEDED_ROLES);
    // An org auditor cannot read the development space: only the org's roles.
    const orgAuditor = await asUser('org_auditor');
    assert.equal(orgAuditor.body.pagination.total_results, 10);
    assert.ok(orgAuditor.body.resources.every((role: RoleJson) => role.relationships.space.data === null));
    assert.equal((await asUser('no_role')).body.pagination.total_results, 0);
    const hidden = (await capiGet(cf, `/v3/roles?user_guids=${seeded.users.space_developer.guid}&space_guids=${seeded.spaces.development.guid}`, service)).body.resources[0].guid;
    const notVisible = await capiGet(cf, `/v3/roles/${hidden}`, await userToken(cf, seeded.users.org_auditor));
    assert.equal(notVisible.status, 404);
    assert.deepEqual(notVisible.body, { errors: [{ detail: 'Role not found', title: 'CF-ResourceNotFound', code: 10010 }] });
  });

  it('answers bad parameters with 422 CF-UnprocessableEntity, as this controller does', async () => {
    const unknown = await capiGet(cf, '/v3/roles?names=x', service);
    assert.equal(unknown.status, 422);
    assert.equal(unknown.body.errors[0].title, 'CF-UnprocessableEntity');
    assert.equal(unknown.body.errors[0].code, 10008);
    assert.match(unknown.body.errors[0].detail, /^Unknown query parameter\(s\): 'names'\. Valid parameters are: .*'user_guids'/);
    const include = await capiGet(cf, '/v3/roles?include=app', service);
    assert.equal(include.status, 422);
    assert.equal(include.body.errors[0].detail, "Invalid included resource: 'app'. Valid included resources are: 'user', 'space', 'organization'");
    const perPage = await capiGet(cf, '/v3/roles?per_page=0&order_by=type', service);
    assert.equal(perPage.body.errors[0].detail, "Per page must be a positive integer, Order by can only be: 'created_at', 'updated_at'");
    const missing = await capiGet(cf, '/v3/roles/00000000-0000-4000-8000-000000000000', service);
    assert.equal(missing.status, 404);
  });
});
