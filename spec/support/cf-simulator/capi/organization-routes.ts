/** `GET /v3/organizations` (`names`, `guids`) and `/v3/organizations/:guid`: only orgs the caller belongs to. */
import { notFound } from './errors.ts';
import { ordered } from './pagination.ts';
import { presentOrg } from './presenters.ts';
import { parseQuery } from './query.ts';
import { filterBy, listBody, ok, TIMESTAMP_COLUMNS, type CapiRoute } from './routes.ts';

export const organizationRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/organizations',
    async handle(request, context) {
      const query = parseQuery(request.search, { lists: ['names', 'guids'], orderBy: ['created_at', 'updated_at', 'name'] });
      let orgs = context.foundation.orgs().filter((org) => request.permissions.canSeeOrg(org.guid));
      orgs = filterBy(orgs, query.list('names'), (org) => org.name);
      orgs = filterBy(orgs, query.list('guids'), (org) => org.guid);
      orgs = ordered(orgs, query, { ...TIMESTAMP_COLUMNS, name: (org) => org.name });
      const { pagination, resources } = await listBody(orgs, query, '/v3/organizations', context, (org) => presentOrg(org, context.base));
      return ok({ pagination, resources });
    },
  },
  {
    name: 'GET /v3/organizations/:guid',
    handle(request, context) {
      const org = context.foundation.org(request.params.guid ?? '');
      if (!org || !request.permissions.canSeeOrg(org.guid)) throw notFound('Organization');
      return ok(presentOrg(org, context.base));
    },
  },
];
