/**
 * What the pre-warmer warms on its first start, before it has a cursor into the audit events: the
 * current droplets of the apps changed most recently, the ones most likely to be pulled next.
 */
import type { CapiReader } from './staging-events.ts';

/** CC's largest page; one page is all the first start asks for. */
const MAX_PER_PAGE = 5000;

/** Guids of the `count` most recently updated apps, newest first (one page, never the whole foundation). */
export async function listRecentlyUpdatedApps(capi: CapiReader, count: number): Promise<string[]> {
  if (count <= 0) return [];
  const page = await capi.get<{ resources: Array<{ guid: string }> }>('/v3/apps', { order_by: '-updated_at', per_page: String(Math.min(count, MAX_PER_PAGE)) });
  return (page?.resources ?? []).map((app) => app.guid);
}

/**
 * The app's current droplet guid; `null` when it has none.
 *
 * @remarks
 * Asked per app through the relationship endpoint: CC's app presenter (`app_presenter.rb`) puts
 * only `space` under an app's `relationships`, so a list of apps does not say which droplet is current.
 */
export async function findCurrentDropletGuid(capi: CapiReader, appGuid: string): Promise<string | null> {
  const relationship = await capi.get<{ data: { guid: string | null } | null }>(`/v3/apps/${appGuid}/relationships/current_droplet`);
  return relationship?.data?.guid ?? null;
}
