/**
 * The droplet endpoints: the list (always redacted), show (redacted unless the caller may read
 * the space's secrets) and download, whose checks run in `droplets_controller.rb#download`'s order.
 */
import { SIGNED_URL_TTL_SECONDS } from '../blobstore-server.ts';
import { rejectOutsideOfNesting } from './app-routes.ts';
import { notAuthorized, resourceNotFound, unprocessable } from './errors.ts';
import { ordered } from './pagination.ts';
import { parseQuery } from './query.ts';
import { dropletJson, filterBy, listBody, ok, TIMESTAMP_COLUMNS, visibleDroplet, type CapiRoute } from './routes.ts';

export const dropletRoutes: CapiRoute[] = [
  {
    name: 'GET /v3/droplets',
    async handle(request, context) {
      rejectOutsideOfNesting(request.search, ['current']);
      const query = parseQuery(request.search, {
        lists: ['guids', 'states', 'app_guids', 'space_guids', 'organization_guids'],
        orderBy: ['created_at', 'updated_at'],
      });
      const { foundation } = context;
      const spaceOf = (appGuid: string) => foundation.space(foundation.app(appGuid)?.spaceGuid ?? '');
      let droplets = foundation.droplets().filter((droplet) => {
        const space = spaceOf(droplet.appGuid);
        return space !== undefined && request.permissions.canReadSpace(space.guid);
      });
      droplets = filterBy(droplets, query.list('guids'), (droplet) => droplet.guid);
      droplets = filterBy(droplets, query.list('states'), (droplet) => droplet.state);
      droplets = filterBy(droplets, query.list('app_guids'), (droplet) => droplet.appGuid);
      droplets = filterBy(droplets, query.list('space_guids'), (droplet) => spaceOf(droplet.appGuid)?.guid ?? null);
      droplets = filterBy(droplets, query.list('organization_guids'), (droplet) => spaceOf(droplet.appGuid)?.orgGuid ?? null);
      droplets = ordered(droplets, query, TIMESTAMP_COLUMNS);
      const { pagination, resources } = await listBody(droplets, query, '/v3/droplets', context, (droplet) => dropletJson(droplet, context, 'list'));
      return ok({ pagination, resources });
    },
  },
  {
    name: 'GET /v3/droplets/:guid',
    async handle(request, context) {
      const { droplet, app } = visibleDroplet(request, context, request.params.guid ?? '');
      return ok(await dropletJson(droplet, context, request.permissions.canReadSecretsInSpace(app.spaceGuid) ? 'none' : 'show'));
    },
  },
  {
    name: 'GET /v3/droplets/:guid/download',
    async handle(request, context) {
      const { foundation, faults, blobstore } = context;
      const { droplet, app } = visibleDroplet(request, context, request.params.guid ?? '');
      if (!request.permissions.canDownloadDroplet(app.spaceGuid)) throw notAuthorized();
      // CC tests `droplet.buildpack?`, so cnb droplets get the same (docker-worded) refusal.
      if (droplet.lifecycle !== 'buildpack') throw unprocessable("Cannot download droplets with 'docker' lifecycle.");
      if (droplet.state !== 'STAGED') throw unprocessable('Only staged droplets can be downloaded.');
      const viewer = request.permissions.viewer;
      foundation.recordEvent({
        type: 'audit.app.droplet.download',
        actor: { guid: viewer.guid, type: 'user', name: viewer.email ?? '' },
        target: { guid: app.guid, type: 'app', name: app.name },
        data: { droplet_guid: droplet.guid },
        spaceGuid: app.spaceGuid,
        orgGuid: foundation.space(app.spaceGuid)?.orgGuid ?? null,
      });
      const blob = await foundation.dropletBlob(droplet);
      if (!blob) throw resourceNotFound('Blobstore key not present on droplet. This may be due to a failed build.');
      const now = Math.floor(Date.now() / 1000);
      const expires = faults.expireSignedUrls ? now - 1 : now + SIGNED_URL_TTL_SECONDS;
      return { status: 302, headers: { Location: blobstore.signedDropletUrl(droplet.guid, blob.sha1, expires) } };
    },
  },
];
