/**
 * `GET /v3/audit_events`: what the pre-warmer follows. Filters `types`, `target_guids`,
 * `space_guids`, `organization_guids` and whole-second `created_ats`/`updated_ats` (relational
 * `[lt|lte|gt|gte]` or exact lists); sub-second timestamps are refused as CC refuses them.
 */
import { notFound } from './errors.ts';
import { ordered } from './pagination.ts';
import { presentEvent } from './presenters.ts';
import { matchesTimestamps, parseQuery } from './query.ts';
import { filterBy, listBody, ok, type CapiRoute } from './routes.ts';

export const auditEventRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/audit_events',
    async handle(request, context) {
      const query = parseQuery(request.search, {
        lists: ['types', 'target_guids', 'space_guids', 'organization_guids'],
        timestamps: ['created_ats', 'updated_ats'],
        orderBy: ['created_at', 'updated_at'],
      });
      let events = context.foundation.events().filter((event) => request.permissions.canSeeEvent(event));
      events = filterBy(events, query.list('types'), (event) => event.type);
      events = filterBy(events, query.list('target_guids'), (event) => event.target.guid);
      events = filterBy(events, query.list('space_guids'), (event) => event.spaceGuid);
      events = filterBy(events, query.list('organization_guids'), (event) => event.orgGuid);
      // Events are never updated, so updated_at is created_at.
      events = events.filter((event) => matchesTimestamps(event.createdAt, query.timestamps('created_ats')) && matchesTimestamps(event.createdAt, query.timestamps('updated_ats')));
      events = ordered(events, query, { created_at: (event) => event.createdAt.getTime(), updated_at: (event) => event.createdAt.getTime() });
      const { pagination, resources } = await listBody(events, query, '/v3/audit_events', context, (event) => presentEvent(event, context.base));
      return ok({ pagination, resources });
    },
  },
  {
    name: 'GET /v3/audit_events/:guid',
    handle(request, context) {
      const event = context.foundation.events().find((candidate) => candidate.guid === request.params.guid);
      if (!event || !request.permissions.canSeeEvent(event)) throw notFound('Event');
      return ok(presentEvent(event, context.base));
    },
  },
];
