/**
 * `GET /v3/spaces` (`names`, `guids`, `organization_guids`, `include=organization`) and
 * `/v3/spaces/:guid`: only spaces the caller has a role in, or manages the org of.
 */
import type { Space } from '../foundation.ts';
import { notFound } from './errors.ts';
import { ordered } from './pagination.ts';
import { presentOrg, presentSpace } from './presenters.ts';
import { parseQuery } from './query.ts';
import { filterBy, listBody, ok, TIMESTAMP_COLUMNS, type CapiContext, type CapiRoute } from './routes.ts';

export const spaceRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/spaces',
    async handle(request, context) {
      const query = parseQuery(request.search, {
        lists: ['names', 'guids', 'organization_guids'],
        include: ['organization'],
        orderBy: ['created_at', 'updated_at', 'name'],
      });
      let spaces = context.foundation.spaces().filter((space) => request.permissions.canReadSpace(space.guid));
      spaces = filterBy(spaces, query.list('names'), (space) => space.name);
      spaces = filterBy(spaces, query.list('guids'), (space) => space.guid);
      spaces = filterBy(spaces, query.list('organization_guids'), (space) => space.orgGuid);
      spaces = ordered(spaces, query, { ...TIMESTAMP_COLUMNS, name: (space) => space.name });
      const { pagination, resources, page } = await listBody(spaces, query, '/v3/spaces', context, (space) => presentSpace(space, context.base));
      return ok({ pagination, resources, ...(query.include.length > 0 ? { included: { organizations: organizationsOf(page, context) } } : {}) });
    },
  },
  {
    name: 'GET /v3/spaces/:guid',
    handle(request, context) {
      const query = parseQuery(request.search, { include: ['organization'] });
      const space = context.foundation.space(request.params.guid ?? '');
      if (!space || !request.permissions.canReadSpace(space.guid)) throw notFound('Space');
      return ok({ ...presentSpace(space, context.base), ...(query.include.length > 0 ? { included: { organizations: organizationsOf([space], context) } } : {}) });
    },
  },
];

/** The distinct orgs of these spaces, in first-seen order, presented. */
export function organizationsOf(spaces: readonly Space[], context: CapiContext) {
  const guids = [...new Set(spaces.map((space) => space.orgGuid))];
  return guids.flatMap((guid) => {
    const org = context.foundation.org(guid);
    return org ? [presentOrg(org, context.base)] : [];
  });
}
