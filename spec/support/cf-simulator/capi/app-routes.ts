/**
 * The app endpoints: list and show with `include=space,space.organization` (one call resolves
 * org/space/app), the current droplet (never redacted) and its relationship, the app's droplets
 * (always redacted, being a list) and `/permissions`.
 */
import type { App } from '../foundation.ts';
import { badQueryParameter, notFound } from './errors.ts';
import { ordered } from './pagination.ts';
import { presentApp, presentSpace } from './presenters.ts';
import { parseQuery } from './query.ts';
import { dropletJson, filterBy, listBody, ok, TIMESTAMP_COLUMNS, visibleApp, type CapiContext, type CapiRoute } from './routes.ts';
import { organizationsOf } from './space-routes.ts';

/** CC's include decorators for apps. */
const APP_INCLUDES = ['space', 'org', 'space.organization'];

export const appRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/apps',
    async handle(request, context) {
      const query = parseQuery(request.search, {
        lists: ['names', 'guids', 'space_guids', 'organization_guids', 'stacks'],
        scalars: ['lifecycle_type'],
        include: APP_INCLUDES,
        orderBy: ['created_at', 'updated_at', 'name', 'state'],
      });
      const lifecycle = query.scalar('lifecycle_type');
      let apps = context.foundation.apps().filter((app) => request.permissions.canReadSpace(app.spaceGuid));
      apps = filterBy(apps, query.list('names'), (app) => app.name);
      apps = filterBy(apps, query.list('guids'), (app) => app.guid);
      apps = filterBy(apps, query.list('space_guids'), (app) => app.spaceGuid);
      apps = filterBy(apps, query.list('organization_guids'), (app) => context.foundation.space(app.spaceGuid)?.orgGuid ?? null);
      apps = filterBy(apps, query.list('stacks'), (app) => app.stack);
      apps = filterBy(apps, lifecycle === null ? null : [lifecycle], (app) => app.lifecycle);
      apps = ordered(apps, query, { ...TIMESTAMP_COLUMNS, name: (app) => app.name, state: (app) => app.state });
      const { pagination, resources, page } = await listBody(apps, query, '/v3/apps', context, (app) => presentApp(app, context.base));
      return ok({ pagination, resources, ...included(page, query.include, context) });
    },
  },
  {
    name: 'GET /v3/apps/:guid',
    handle(request, context) {
      const query = parseQuery(request.search, { include: APP_INCLUDES });
      const app = visibleApp(request, context, request.params.guid ?? '');
      return ok({ ...presentApp(app, context.base), ...included([app], query.include, context) });
    },
  },
  {
    name: 'GET /v3/apps/:guid/droplets/current',
    async handle(request, context) {
      const app = visibleApp(request, context, request.params.guid ?? '');
      const droplet = app.currentDropletGuid === null ? undefined : context.foundation.droplet(app.currentDropletGuid);
      if (!droplet) throw notFound('Droplet');
      return ok(await dropletJson(droplet, context, 'none'));
    },
  },
  {
    name: 'GET /v3/apps/:guid/relationships/current_droplet',
    handle(request, context) {
      const app = visibleApp(request, context, request.params.guid ?? '');
      if (app.currentDropletGuid === null) throw notFound('Droplet');
      const self = `${context.base}/v3/apps/${app.guid}`;
      return ok({
        data: { guid: app.currentDropletGuid },
        links: { self: { href: `${self}/relationships/current_droplet` }, related: { href: `${self}/droplets/current` } },
      });
    },
  },
  {
    name: 'GET /v3/apps/:guid/droplets',
    async handle(request, context) {
      rejectOutsideOfNesting(request.search, ['app_guids', 'organization_guids', 'space_guids']);
      const query = parseQuery(request.search, { lists: ['guids', 'states'], scalars: ['current'], orderBy: ['created_at', 'updated_at'] });
      const current = query.scalar('current');
      if (current !== null && current !== 'true') throw badQueryParameter(["Current only accepts the value 'true'"]);
      const app = visibleApp(request, context, request.params.guid ?? '');
      let droplets = context.foundation.droplets().filter((droplet) => droplet.appGuid === app.guid);
      droplets = filterBy(droplets, query.list('guids'), (droplet) => droplet.guid);
      droplets = filterBy(droplets, query.list('states'), (droplet) => droplet.state);
      if (current === 'true') droplets = droplets.filter((droplet) => droplet.guid === app.currentDropletGuid);
      droplets = ordered(droplets, query, TIMESTAMP_COLUMNS);
      const { pagination, resources } = await listBody(droplets, query, `/v3/apps/${app.guid}/droplets`, context, (droplet) => dropletJson(droplet, context, 'list'));
      return ok({ pagination, resources });
    },
  },
  {
    name: 'GET /v3/apps/:guid/permissions',
    handle(request, context) {
      const app = visibleApp(request, context, request.params.guid ?? '');
      return ok({ read_basic_data: true, read_sensitive_data: request.permissions.canReadSecretsInSpace(app.spaceGuid) });
    },
  },
];

/**
 * Filters `DropletsListMessage` accepts only outside (or only inside) the app-nested list are
 * refused with CC's short "Unknown query parameter(s)" message.
 */
export function rejectOutsideOfNesting(search: URLSearchParams, keys: readonly string[]): void {
  const present = keys.filter((key) => search.has(key));
  if (present.length > 0) throw badQueryParameter([`Unknown query parameter(s): '${present.join("', '")}'`]);
}

/** `included` for these apps: spaces for `space`, orgs for `org`, both for `space.organization`. */
function included(apps: readonly App[], include: readonly string[], context: CapiContext) {
  if (include.length === 0) return {};
  const spaces = [...new Set(apps.map((app) => app.spaceGuid))].flatMap((guid) => context.foundation.space(guid) ?? []);
  const withSpaces = include.includes('space') || include.includes('space.organization');
  const withOrgs = include.includes('org') || include.includes('space.organization');
  return {
    included: {
      ...(withSpaces ? { spaces: spaces.map((space) => presentSpace(space, context.base)) } : {}),
      ...(withOrgs ? { organizations: organizationsOf(spaces, context) } : {}),
    },
  };
}
