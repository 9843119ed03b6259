/**
 * What the pre-warmer's first start asks Cloud Controller, on a stand-in CAPI reader: one page of
 * the most recently updated apps (never more than CC serves in one page, never the whole
 * foundation), and each app's current droplet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCurrentDropletGuid, listRecentlyUpdatedApps } from '../../../src/workers/recent-apps.ts';
import type { CapiReader } from '../../../src/workers/staging-events.ts';

interface Asked {
  readonly path: string;
  readonly params: Record<string, string> | undefined;
}

/** A reader whose `get` answers `answer(path, params)`; lists are never read. */
function capiReader(answer: (path: string, params?: Record<string, string>) => unknown): CapiReader & { asked: Asked[] } {
  const asked: Asked[] = [];
  const reader = {
    asked,
    get: async (path: string, params?: Record<string, string>) => {
      asked.push({ path, params });
      return answer(path, params);
    },
    list: async () => assert.fail('no list is read'),
    listFirstPages: async () => assert.fail('no list is read'),
  };
  return reader as unknown as CapiReader & { asked: Asked[] };
}

const appsPage = (guids: string[]) => ({ pagination: { total_results: 9999, next: { href: 'https://api.example.com/v3/apps?page=2' } }, resources: guids.map((guid) => ({ guid, name: `app-${guid}` })) });

describe('the most recently updated apps', () => {
  it('are one page of apps, newest update first, as many as asked for', async () => {
    const capi = capiReader(() => appsPage(['newest', 'older', 'oldest']));
    assert.deepEqual(await listRecentlyUpdatedApps(capi, 3), ['newest', 'older', 'oldest']);
    assert.deepEqual(capi.asked, [{ path: '/v3/apps', params: { order_by: '-updated_at', per_page: '3' } }]);
  });

  it("ask for no more than Cloud Controller's largest page (5000), however many are wanted", async () => {
    const capi = capiReader(() => appsPage([]));
    await listRecentlyUpdatedApps(capi, 100_000);
    assert.equal(capi.asked[0]?.params?.per_page, '5000');
  });

  it('are none, without asking Cloud Controller, when none are wanted', async () => {
    const capi = capiReader(() => assert.fail('not asked'));
    assert.deepEqual(await listRecentlyUpdatedApps(capi, 0), []);
    assert.deepEqual(await listRecentlyUpdatedApps(capi, -1), []);
    assert.deepEqual(capi.asked, []);
  });

  it('are none when Cloud Controller answers nothing', async () => {
    assert.deepEqual(await listRecentlyUpdatedApps(capiReader(() => null), 10), []);
  });
});

describe("an app's current droplet", () => {
  it('is asked through the relationship endpoint and named by its guid', async () => {
    const capi = capiReader(() => ({ data: { guid: 'droplet-guid-1' }, links: {} }));
    assert.equal(await findCurrentDropletGuid(capi, 'app-guid-1'), 'droplet-guid-1');
    assert.deepEqual(capi.asked, [{ path: '/v3/apps/app-guid-1/relationships/current_droplet', params: undefined }]);
  });

  it('is null for an app without one, or an app Cloud Controller no longer has', async () => {
    assert.equal(await findCurrentDropletGuid(capiReader(() => ({ data: null })), 'never-staged'), null);
    assert.equal(await findCurrentDropletGuid(capiReader(() => ({ data: { guid: null } })), 'unset'), null);
    assert.equal(await findCurrentDropletGuid(capiReader(() => null), 'deleted'), null);
  });
});
