/**
 * What the pre-warmer follows: a simulated `cf push` records CC's events with their data shapes
 * and whole-second timestamps, and `/v3/audit_events` filters them by type, target and time the
 * way CC does, refusing sub-second timestamps.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { standardDroplet } from '../../support/build-droplet.ts';
import type { App, CfSimulator, Droplet, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, startSeeded, userToken } from './simulator-client.ts';

const WATCHED = 'types=audit.app.build.staged,audit.app.droplet.mapped';

describe('cf-simulator audit events', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  let service: string;
  let app: App;
  const pushes: Droplet[] = [];

  before(async () => {
    ({ cf, seeded } = await startSeeded());
    service = await clientToken(cf, seeded.serviceClient);
    app = cf.foundation.createApp(seeded.spaces.development, { name: 'pushed', buildpacks: ['nodejs_buildpack'] });
    // Three pushes, one second apart: 10:00:00, 10:00:01, 10:00:02.
    cf.foundation.setTime('2024-05-01T10:00:00.400Z');
    for (const command of ['node one.js', 'node two.js', 'node three.js']) {
      pushes.push(cf.foundation.stage(app, await standardDroplet({ startCommand: command }), { processTypes: { web: command } }));
      cf.foundation.advanceTime(1);
    }
  });
  after(() => cf.stop());

  it('records what cf push records, with CC’s data shapes and whole-second timestamps', async () => {
    const reply = await capiGet(cf, `/v3/audit_events?target_guids=${app.guid}&order_by=created_at`, service);
    const first = reply.body.resources.slice(0, 3);
    assert.deepEqual(
      first.map((event: { type: string; created_at: string }) => [event.type, event.created_at]),
      [
        ['audit.app.droplet.create', '2024-05-01T10:00:00Z'],
        ['audit.app.build.staged', '2024-05-01T10:00:00Z'],
        ['audit.app.droplet.mapped', '2024-05-01T10:00:00Z'],
      ],
    );
    const [create, staged, mapped] = first;
    const droplet = pushes[0] as Droplet;
    assert.deepEqual(create.data, { droplet_guid: droplet.guid, package_guid: droplet.packageGuid });
    assert.deepEqual(Object.keys(staged.data), ['build_guid', 'package_guid', 'droplet_guid', 'buildpacks']);
    assert.equal(staged.data.droplet_guid, droplet.guid);
    assert.deepEqual(staged.data.buildpacks, [{ name: 'nodejs_buildpack', buildpack_name: 'nodejs', version: null }]);
    assert.deepEqual(mapped.data, { request: { droplet_guid: droplet.guid } });
    assert.deepEqual(mapped.target, { guid: app.guid, type: 'app', name: 'pushed' });
    assert.deepEqual(mapped.actor, cf.foundation.defaultActor);
    assert.deepEqual(mapped.space, { guid: seeded.spaces.development.guid });
    assert.deepEqual(mapped.organization, { guid: seeded.org.guid });
    assert.equal(mapped.updated_at, mapped.created_at);
    assert.deepEqual(mapped.links.self, { href: `${cf.capiUrl}/v3/audit_events/${mapped.guid}` });
  });

  it('makes the latest push the current droplet', async () => {
    const current = await capiGet(cf, `/v3/apps/${app.guid}/droplets/current`, service);
    assert.equal(current.body.guid, pushes[2]?.guid);
    assert.deepEqual(current.body.process_types, { web: 'node three.js' });
  });

  it('filters by type and by created_ats with every relational operator', async () => {
    const mappedAt = async (condition: string) => {
      const reply = await capiGet(cf, `/v3/audit_events?types=audit.app.droplet.mapped&target_guids=${app.guid}&${condition}`, service);
      assert.equal(reply.status, 200, condition);
      return reply.body.resources.map((event: { data: { request: { droplet_guid: string } } }) => event.data.request.droplet_guid);
    };
    const [one, two, three] = pushes.map((droplet) => droplet.guid);
    assert.deepEqual(await mappedAt('created_ats[gte]=2024-05-01T10:00:01Z'), [two, three]);
    assert.deepEqual(await mappedAt('created_ats[gt]=2024-05-01T10:00:01Z'), [three]);
    assert.deepEqual(await mappedAt('created_ats[lt]=2024-05-01T10:00:01Z'), [one]);
    assert.deepEqual(await mappedAt('created_ats[lte]=2024-05-01T10:00:01Z'), [one, two]);
    assert.deepEqual(await mappedAt('created_ats[gte]=2024-05-01T10:00:01Z&created_ats[lt]=2024-05-01T10:00:02Z'), [two]);
    assert.deepEqual(await mappedAt('created_ats=2024-05-01T10:00:00Z,2024-05-01T10:00:02Z'), [one, three]);

    const watched = await capiGet(cf, `/v3/audit_events?${WATCHED}&target_guids=${app.guid}&created_ats[gte]=2024-05-01T10:00:02Z&order_by=created_at&per_page=5000`, service);
    assert.deepEqual(watched.body.resources.map((event: { type: string }) => event.type), ['audit.app.build.staged', 'audit.app.droplet.mapped']);
    assert.equal(
      watched.body.pagination.first.href,
      `${cf.capiUrl}/v3/audit_events?created_ats%5Bgte%5D=2024-05-01T10%3A00%3A02Z&order_by=created_at&page=1&per_page=5000&target_guids=${app.guid}&types=audit.app.build.staged%2Caudit.app.droplet.mapped`,
    );
  });

  it('refuses sub-second and malformed timestamps and unknown operators', async () => {
    const detail = async (query: string) => {
      const reply = await capiGet(cf, `/v3/audit_events?${query}`, service);
      assert.equal(reply.status, 400, query);
      assert.equal(reply.body.errors[0].title, 'CF-BadQueryParameter');
      return reply.body.errors[0].detail;
    };
    const format = "The query parameter is invalid: Created ats has an invalid timestamp format. Timestamps should be formatted as 'YYYY-MM-DDThh:mm:ssZ'";
    assert.equal(await detail('created_ats[gte]=2024-05-01T10:00:01.500Z'), format);
    assert.equal(await detail('created_ats[gte]=2024-05-01T10:00:01%2B00:00'), format);
    assert.equal(await detail('created_ats=2024-05-01'), format);
    assert.equal(await detail('created_ats[after]=2024-05-01T10:00:01Z'), "The query parameter is invalid: Created ats Invalid relational operator: 'after'");
    assert.equal(await detail('created_ats[gte]=2024-05-01T10:00:01Z,2024-05-01T10:00:02Z'), 'The query parameter is invalid: Created ats only accepts one value when using a relational operator');
  });

  it('orders newest first on request', async () => {
    const reply = await capiGet(cf, `/v3/audit_events?types=audit.app.droplet.mapped&target_guids=${app.guid}&order_by=-created_at`, service);
    assert.deepEqual(
      reply.body.resources.map((event: { created_at: string }) => event.created_at),
      ['2024-05-01T10:00:02Z', '2024-05-01T10:00:01Z', '2024-05-01T10:00:00Z'],
    );
  });

  it('shows space events to the space’s developers but not to its supporters or other spaces’ users', async () => {
    const path = `/v3/audit_events?target_guids=${app.guid}`;
    assert.equal((await capiGet(cf, path, await userToken(cf, seeded.users.space_developer))).body.pagination.total_results, 10, "the app's creation and nine staging events");
    assert.equal((await capiGet(cf, path, await userToken(cf, seeded.users.org_auditor))).body.pagination.total_results, 10);
    assert.equal((await capiGet(cf, path, await userToken(cf, seeded.users.space_supporter))).body.pagination.total_results, 0);
    assert.equal((await capiGet(cf, path, await userToken(cf, seeded.users.no_role))).body.pagination.total_results, 0);
  });

  it('records deleting the current droplet, leaving the app without one', async () => {
    const last = pushes[2] as Droplet;
    cf.foundation.deleteDroplet(last);
    assert.equal((await capiGet(cf, `/v3/apps/${app.guid}/droplets/current`, service)).status, 404);
    assert.equal((await capiGet(cf, `/v3/droplets/${last.guid}`, service)).status, 404);
    const appJson = await capiGet(cf, `/v3/apps/${app.guid}`, service);
    assert.deepEqual(appJson.body.relationships.current_droplet, { data: { guid: null } });
    const deleted = await capiGet(cf, `/v3/audit_events?types=audit.app.droplet.delete&target_guids=${app.guid}`, service);
    assert.deepEqual(deleted.body.resources.map((event: { data: unknown }) => event.data), [{ droplet_guid: last.guid }]);
  });
});
