/**
 * Which callers see a droplet's `process_types` and `execution_metadata`: lists always redact,
 * show redacts for anyone who cannot read the space's secrets, `/droplets/current` never does.
 * Also the droplet shapes per lifecycle and `/permissions`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CfSimulator, MatrixRole, SeededFoundation } from '../../support/cf-simulator/index.ts';
import { capiGet, clientToken, startSeeded, userToken } from './simulator-client.ts';

const HIDDEN = '[PRIVATE DATA HIDDEN]';
const HIDDEN_IN_LISTS = '[PRIVATE DATA HIDDEN IN LISTS]';

describe('cf-simulator droplet redaction', () => {
  let cf: CfSimulator;
  let seeded: SeededFoundation;
  const tokens = new Map<MatrixRole, string>();
  const token = async (role: MatrixRole) => {
    let found = tokens.get(role);
    if (found === undefined) {
      found = await userToken(cf, seeded.users[role]);
      tokens.set(role, found);
    }
    return found;
  };

  before(async () => {
    ({ cf, seeded } = await startSeeded());
  });
  after(() => cf.stop());

  it('redacts every droplet of every list, whoever asks', async () => {
    for (const role of ['admin', 'space_developer', 'space_auditor'] as const) {
      for (const path of [`/v3/apps/${seeded.apps.web.guid}/droplets`, `/v3/droplets?app_guids=${seeded.apps.web.guid}`]) {
        const reply = await capiGet(cf, path, await token(role));
        assert.equal(reply.body.resources.length, 2, `${role} ${path}`);
        for (const droplet of reply.body.resources) {
          assert.equal(droplet.execution_metadata, HIDDEN_IN_LISTS);
          assert.deepEqual(droplet.process_types, { redacted_message: HIDDEN_IN_LISTS });
        }
      }
    }
  });

  it('shows secrets on GET /v3/droplets/:guid only to space developers, admin and admin_read_only', async () => {
    const path = `/v3/droplets/${seeded.droplets.webCurrent.guid}`;
    for (const role of ['admin', 'admin_read_only', 'space_developer'] as const) {
      const reply = await capiGet(cf, path, await token(role));
      assert.deepEqual(reply.body.process_types, { web: 'node server.js' }, role);
      assert.equal(reply.body.execution_metadata, '', role);
    }
    for (const role of ['global_auditor', 'space_manager', 'space_auditor', 'space_supporter', 'org_manager'] as const) {
      const reply = await capiGet(cf, path, await token(role));
      assert.equal(reply.status, 200, role);
      assert.deepEqual(reply.body.process_types, { redacted_message: HIDDEN }, role);
      assert.equal(reply.body.execution_metadata, HIDDEN, role);
    }
    const service = await clientToken(cf, seeded.serviceClient);
    assert.deepEqual((await capiGet(cf, path, service)).body.process_types, { web: 'node server.js' });
  });

  it('never redacts /v3/apps/:guid/droplets/current', async () => {
    for (const role of ['space_auditor', 'space_supporter', 'global_auditor'] as const) {
      const reply = await capiGet(cf, `/v3/apps/${seeded.apps.web.guid}/droplets/current`, await token(role));
      assert.equal(reply.body.guid, seeded.droplets.webCurrent.guid, role);
      assert.deepEqual(reply.body.process_types, { web: 'node server.js' }, role);
    }
  });

  it('presents buildpack droplets with checksum and a download link', async () => {
    const reply = await capiGet(cf, `/v3/droplets/${seeded.droplets.webCurrent.guid}`, await token('admin'));
    const droplet = reply.body;
    assert.equal(droplet.state, 'STAGED');
    assert.deepEqual(droplet.lifecycle, { type: 'buildpack', data: {} });
    assert.equal(droplet.checksum.type, 'sha256');
    assert.match(droplet.checksum.value, /^[0-9a-f]{64}$/);
    assert.deepEqual(droplet.buildpacks, [{ name: 'nodejs_buildpack', detect_output: 'nodejs', buildpack_name: 'nodejs', version: '1.8.20' }]);
    assert.equal(droplet.stack, 'cflinuxfs4');
    assert.equal(droplet.image, null);
    assert.match(droplet.created_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.deepEqual(droplet.relationships, { app: { data: { guid: seeded.apps.web.guid } } });
    assert.deepEqual(droplet.links.download, { href: `${cf.capiUrl}/v3/droplets/${droplet.guid}/download` });
    assert.deepEqual(droplet.links.assign_current_droplet, { href: `${cf.capiUrl}/v3/apps/${seeded.apps.web.guid}/relationships/current_droplet`, method: 'PATCH' });

    const legacy = await capiGet(cf, `/v3/droplets/${seeded.droplets.legacy.guid}`, await token('admin'));
    assert.equal(legacy.body.checksum.type, 'sha1');
    assert.match(legacy.body.checksum.value, /^[0-9a-f]{40}$/);
    assert.equal(legacy.body.stack, 'cflinuxfs3');
  });

  it('presents docker, cnb and failed droplets without a download link', async () => {
    const admin = await token('admin');
    const docker = (await capiGet(cf, `/v3/droplets/${seeded.droplets.docker.guid}`, admin)).body;
    assert.deepEqual(docker.lifecycle, { type: 'docker', data: {} });
    assert.equal(docker.checksum, null);
    assert.equal(docker.buildpacks, null);
    assert.equal(docker.stack, null);
    assert.equal(docker.image, 'cloudfoundry/diego-docker-app:latest');
    assert.equal('download' in docker.links, false);
    const cnb = (await capiGet(cf, `/v3/droplets/${seeded.droplets.cnb.guid}`, admin)).body;
    assert.equal(cnb.lifecycle.type, 'cnb');
    assert.equal('download' in cnb.links, false);
    const failed = (await capiGet(cf, `/v3/droplets/${seeded.droplets.failingFailed.guid}`, admin)).body;
    assert.equal(failed.state, 'FAILED');
    assert.equal(failed.checksum, null);
    assert.match(failed.error, /^StagingError/);
    assert.equal('download' in failed.links, false);
  });

  it('tells /v3/apps/:guid/permissions who reads sensitive data, and hides the app from others', async () => {
    const path = `/v3/apps/${seeded.apps.web.guid}/permissions`;
    assert.deepEqual((await capiGet(cf, path, await token('space_developer'))).body, { read_basic_data: true, read_sensitive_data: true });
    assert.deepEqual((await capiGet(cf, path, await token('admin_read_only'))).body, { read_basic_data: true, read_sensitive_data: true });
    assert.deepEqual((await capiGet(cf, path, await token('space_auditor'))).body, { read_basic_data: true, read_sensitive_data: false });
    assert.deepEqual((await capiGet(cf, path, await token('global_auditor'))).body, { read_basic_data: true, read_sensitive_data: false });
    assert.equal((await capiGet(cf, path, await token('org_billing_manager'))).status, 404);
  });
});
