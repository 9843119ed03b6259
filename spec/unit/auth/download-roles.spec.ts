/**
 * DownloadRoles trusts only roles it checks itself: the simulator applies `/v3/roles` filters
 * faithfully (spec/integration/auth/role-matrix.spec.ts), so what a Cloud Controller that ignored
 * a filter would answer is played here by a list that ignores every filter.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DownloadRoles } from '../../../src/auth/download-roles.ts';
import type { AppRef } from '../../../src/sources/droplet-source.ts';

const APP: AppRef = { guid: 'app', name: 'web', space: { guid: 'space-a', name: 'dev' }, org: { guid: 'org-a', name: 'acme' } };

function role(type: string, user: string, where: { space?: string; org?: string }) {
  return {
    type,
    relationships: {
      user: { data: { guid: user } },
      space: { data: where.space ? { guid: where.space } : null },
      organization: { data: where.org ? { guid: where.org } : null },
    },
  };
}

/** Answers every `/v3/roles` query with all of `roles`, recording the queries. */
function unfilteredCapi(roles: unknown[]) {
  const queries: Array<Record<string, string>> = [];
  return {
    queries,
    async list<T>(_path: string, params: Record<string, string> = {}) {
      queries.push(params);
      return { resources: roles as T[], included: {} };
    },
  };
}

describe('DownloadRoles', () => {
  it('asks for the downloading roles of the user in the app space, then in its org', async () => {
    const capi = unfilteredCapi([]);
    assert.equal(await new DownloadRoles(capi).holdsDownloadRole('user-1', APP), false);
    assert.deepEqual(capi.queries, [
      { user_guids: 'user-1', space_guids: 'space-a', types: 'space_developer,space_manager,space_auditor' },
      { user_guids: 'user-1', organization_guids: 'org-a', types: 'organization_manager' },
    ]);
  });

  it('grants on a downloading role of this user in this space or org', async () => {
    assert.equal(await new DownloadRoles(unfilteredCapi([role('space_auditor', 'user-1', { space: 'space-a' })])).holdsDownloadRole('user-1', APP), true);
    assert.equal(await new DownloadRoles(unfilteredCapi([role('organization_manager', 'user-1', { org: 'org-a' })])).holdsDownloadRole('user-1', APP), true);
  });

  it('never grants on a role a filter should have left out', async () => {
    const capi = unfilteredCapi([
      role('space_developer', 'user-2', { space: 'space-a' }),
      role('space_developer', 'user-1', { space: 'space-b' }),
      role('space_supporter', 'user-1', { space: 'space-a' }),
      role('organization_auditor', 'user-1', { org: 'org-a' }),
      role('organization_manager', 'user-1', { org: 'org-b' }),
    ]);
    assert.equal(await new DownloadRoles(capi).holdsDownloadRole('user-1', APP), false);
  });
});
