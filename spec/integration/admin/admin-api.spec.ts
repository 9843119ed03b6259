/**
 * The operator's admin API through `server.inject` on the real composition (CAPI source on the
 * CAPI + UAA simulator, AUTH=uaa), on PGlite and PostgreSQL: who may call it, what it reports
 * about layers, images, conversions and imported rootfs, and what its actions do — a retry that
 * lands, a forced conversion, a deletion the next pull recovers from.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServerInjectResponse } from '@hapi/hapi';
import { buildDroplet, standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { ociError, startAuthWorld, tokenOf, tokenRequest, type AuthWorld } from '../auth/auth-world.ts';

type Json = Record<string, any>;

for (const database of eachDatabase()) {
  describe(`admin API (${database.name})`, { skip: await database.skipReason() }, () => {
    let world: AuthWorld;
    let handle: TestDatabase | undefined;
    let registry: TestRegistry;
    let adminToken: string;

    const call = (method: string, url: string, token: string | null = adminToken) =>
      registry.registry.server.inject({ method, url, headers: token === null ? {} : { authorization: `bearer ${token}` } });
    const body = (res: ServerInjectResponse): Json => JSON.parse(res.payload) as Json;
    const get = async (url: string): Promise<Json> => {
      const res = await call('GET', url);
      assert.equal(res.statusCode, 200, `${url}: ${res.payload}`);
      return body(res);
    };
    /** A new app of the development space with one staged droplet of these bits. */
    const stagedApp = async (name: string, bits?: Buffer) => {
      const app = world.cf.foundation.createApp(world.seed.spaces.development, { name });
      const droplet = world.cf.foundation.stage(app, bits ?? (await standardDroplet({ startCommand: `./${name}` })));
      return { app, droplet, repository: `acme/development/${name}` };
    };
    /** `docker pull`'s manifest request; `beforeManifest` runs once the registry token is there. */
    const pull = async (repository: string, beforeManifest?: () => void) => {
      const token = tokenOf(await registry.registry.server.inject(tokenRequest(world.seed.users.admin, [`repository:${repository}:pull`])));
      beforeManifest?.();
      return registry.registry.server.inject({ url: `/v2/${repository}/manifests/latest`, headers: { authorization: `Bearer ${token}` } });
    };
    const imageOf = async (dropletGuid: string): Promise<Json> => (await get(`/admin/images/${dropletGuid}`)).images[0] as Json;
    const settled = async (dropletGuid: string, attempts: number) => {
      await waitFor(`image of ${dropletGuid} settled after attempt ${attempts}`, async () => {
        const image = await imageOf(dropletGuid);
        return image.attempts === attempts && (image.state === 'ready' || image.state === 'failed');
      });
      return imageOf(dropletGuid);
    };
    const pathOf = (href: string) => {
      const url = new URL(href);
      return url.pathname + url.search;
    };

    before(async () => {
      world = await startAuthWorld();
      handle = database.name === 'postgres' ? await database.create() : undefined;
      registry = await world.openRegistry(handle?.url ? { DATABASE_URL: handle.url } : {});
      adminToken = world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.admin.username });
    });

    after(async () => {
      await registry?.close();
      await handle?.cleanup();
      await world?.stop();
    });

    it('answers every admin operation 401 without a token and 403 without the admin scope', async () => {
      const developer = world.cf.uaa.issueToken({ clientId: 'cf', username: world.seed.users.space_developer.username });
      const routes = registry.registry.server.table().filter((route) => route.path.startsWith('/admin/') && route.path !== '/admin/openapi.json');
      assert.ok(routes.length >= 9, routes.map((route) => route.path).join(' '));
      const guid = world.seed.droplets.webCurrent.guid;
      for (const route of routes) {
        const url = route.path.replace('{droplet_guid}', guid).replace('{digest}', `sha256:${'a'.repeat(64)}`);
        const anonymous = await call(route.method.toUpperCase(), url, null);
        assert.equal(anonymous.statusCode, 401, `${route.method} ${url}`);
        assert.equal(ociError(anonymous).code, 'UNAUTHORIZED');
        const forbidden = await call(route.method.toUpperCase(), url, developer);
        assert.equal(forbidden.statusCode, 403, `${route.method} ${url}`);
        assert.equal(ociError(forbidden).code, 'DENIED');
      }
      assert.equal((await call('GET', '/admin/images', null)).statusCode, 401);
      assert.equal(body(await call('GET', '/admin/images')).pagination.total_results, 0, 'nothing converted yet: nothing was, by those calls');
    });

    it('serves an OpenAPI 3.1 document listing exactly the registered admin operations', async () => {
      const res = await call('GET', '/admin/openapi.json', null);
      assert.equal(res.statusCode, 200, 'the document needs no token');
      const document = body(res);
      assert.equal(document.openapi, '3.1.0');
      const documented = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`));
      const registered = registry.registry.server
        .table()
        .filter((route) => route.path.startsWith('/admin/'))
        .map((route) => `${route.method.toUpperCase()} ${route.path}`);
      assert.deepEqual(documented.sort(), registered.sort());
      const text = JSON.stringify(document);
      for (const [, name] of text.matchAll(/"#\/components\/(?:schemas|responses|parameters)\/([A-Za-z_]+)"/g)) {
        assert.ok(text.includes(`"${name}":{`), `$ref to ${name} resolves`);
      }
    });

    it('documents each list parameter as the API enforces it: every enum value and bound', async () => {
      const document = body(await call('GET', '/admin/openapi.json', null));
      const listImages = (document.paths['/admin/images'].get.parameters as Json[]).map((parameter) => [parameter.name, parameter.schema]);
      assert.deepEqual(Object.fromEntries(listImages).state.enum, ['pending', 'converting', 'ready', 'failed']);
      assert.equal(Object.fromEntries(listImages).per_page.maximum, 500);
      const checked: string[] = [];
      for (const [path, operations] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
        if (path.includes('{')) continue;
        for (const { name, schema } of (operations.get?.parameters ?? []) as Json[]) {
          const answered = async (value: unknown) => {
            const res = await call('GET', `${path}?${name}=${String(value)}`);
            if (res.statusCode === 400) assert.equal((ociError(res).detail as Json).parameter, name, `${path}?${name}=${String(value)}`);
            return res.statusCode;
          };
          for (const value of (schema.enum ?? []) as string[]) assert.equal(await answered(value), 200, `${path}?${name}=${value} is documented`);
          if (schema.enum) assert.equal(await answered('undocumented'), 400, `${path}?${name}=undocumented`);
          if (schema.maximum !== undefined) {
            assert.equal(await answered(schema.maximum), 200, `${path}?${name}=${schema.maximum} is documented`);
            assert.equal(await answered(schema.maximum + 1), 400, `${path}?${name}=${schema.maximum + 1}`);
          }
          if (schema.minimum !== undefined) {
            assert.equal(await answered(schema.minimum), 200, `${path}?${name}=${schema.minimum} is documented`);
            assert.equal(await answered(schema.minimum - 1), 400, `${path}?${name}=${schema.minimum - 1}`);
          }
          checked.push(`${path}?${name}`);
        }
      }
      assert.ok(checked.includes('/admin/images?per_page') && checked.includes('/admin/conversions?state'), checked.join(' '));
    });

    it('lists the imported rootfs and the base layers, filtered by kind', async () => {
      const rootfs = await get('/admin/rootfs');
      assert.equal(rootfs.pagination.total_results, 1);
      const [imported] = rootfs.resources as Json[];
      assert.equal(imported?.kind, 'rootfs');
      assert.equal(imported?.name, 'cflinuxfs4');
      assert.equal(imported?.current, true);
      assert.equal((await get('/admin/rootfs?kind=lifecycle')).pagination.total_results, 0, 'the built-in launcher is built, not imported');
      const layers = await get('/admin/layers?kind=rootfs');
      assert.equal(layers.pagination.total_results, 1);
      assert.equal(layers.resources[0].digest, imported?.layer_digest);
      assert.equal(layers.resources[0].size, imported?.layer_size);
      assert.equal(layers.resources[0].present, undefined, 'the list does not ask the blobstore');
      assert.equal((await get('/admin/layers?kind=droplet')).pagination.total_results, 0);
      const rootfsLayer = await get(`/admin/layers/${imported?.layer_digest}`);
      assert.equal(rootfsLayer.present, true);
      assert.equal(rootfsLayer.images.count, 0);
    });

    it('reports a pulled image: state, timings, bytes, manifest, its conversion and its layers', async () => {
      const web = world.seed.droplets.webCurrent;
      const pulled = await pull('acme/development/web');
      assert.equal(pulled.statusCode, 200, pulled.payload);
      const manifest = body(pulled);
      const droplet = await get(`/admin/images/${web.guid}`);
      assert.equal(droplet.app_guid, world.seed.apps.web.guid);
      assert.equal(droplet.images.length, 1);
      const image = droplet.images[0] as Json;
      assert.equal(image.state, 'ready');
      assert.equal(image.manifest_digest, pulled.headers['docker-content-digest']);
      assert.equal(image.config_digest, manifest.config.digest);
      assert.deepEqual([image.layers.stack, image.layers.lifecycle, ...image.layers.droplet], manifest.layers.map((layer: Json) => layer.digest));
      assert.equal(image.layers.foundation, null, 'the test stack has no foundation layer');
      assert.equal(image.base_current, true);
      const sizes = [manifest.config, ...manifest.layers].map((descriptor: Json) => descriptor.size as number);
      assert.equal(image.bytes.total, sizes.reduce((a, b) => a + b, 0));
      assert.equal(image.bytes.droplet_layers, manifest.layers[2].size);
      assert.equal(image.stack, 'cflinuxfs4');
      assert.equal(image.attempts, 1);
      assert.equal(image.error, null);
      assert.equal(typeof image.instance, 'string');
      assert.equal(image.lease.held, false);
      assert.ok(Number.isInteger(image.conversion_ms));
      assert.ok(Date.parse(image.converted_at) >= Date.parse(image.created_at));

      const conversions = await get(`/admin/conversions?droplet_guid=${web.guid}`);
      assert.equal(conversions.pagination.total_results, 1);
      const conversion = conversions.resources[0] as Json;
      assert.equal(conversion.state, 'succeeded');
      assert.equal(conversion.image_id, image.id);
      assert.equal(conversion.bytes_out, image.bytes.droplet_layers);
      assert.ok(conversion.bytes_in > 0);

      const layer = await get(`/admin/layers/${image.layers.droplet[0]}`);
      assert.equal(layer.kind, 'droplet');
      assert.equal(layer.size, manifest.layers[2].size);
      assert.equal(layer.media_type, manifest.layers[2].mediaType);
      assert.match(layer.diff_id, /^sha256:[0-9a-f]{64}$/);
      assert.ok(layer.uncompressed_size > layer.size);
      assert.equal(layer.present, true);
      assert.deepEqual(layer.images.droplet_guids, [web.guid]);
      assert.equal(layer.images.count, 1);
      const users = await get(pathOf(layer.images.href));
      assert.deepEqual(users.resources.map((user: Json) => user.droplet_guid), [web.guid], 'images?layer_digest= lists the images using it');
    });

    it('filters and pages images CAPI-style, and says which parameter is wrong', async () => {
      for (const name of ['page-a', 'page-b']) assert.equal((await pull((await stagedApp(name)).repository)).statusCode, 200);
      const all = await get('/admin/images?state=ready');
      assert.equal(all.pagination.total_results, 3);
      const first = await get('/admin/images?state=ready&per_page=2');
      assert.equal(first.resources.length, 2);
      assert.equal(first.pagination.total_pages, 2);
      assert.equal(first.pagination.previous, null);
      assert.match(first.pagination.next.href, /^http:\/\/.*\/admin\/images\?state=ready&page=2&per_page=2$/);
      const second = await get(pathOf(first.pagination.next.href));
      assert.equal(second.resources.length, 1);
      assert.equal(second.pagination.next, null);
      assert.deepEqual([...first.resources, ...second.resources].map((image: Json) => image.id), all.resources.map((image: Json) => image.id));
      assert.equal((await get('/admin/images?page=3&per_page=2')).resources.length, 0);
      const web = await get(`/admin/images?app_guid=${world.seed.apps.web.guid}`);
      assert.deepEqual(web.resources.map((image: Json) => image.droplet_guid), [world.seed.droplets.webCurrent.guid]);
      assert.equal((await get(`/admin/images?droplet_guid=${world.seed.droplets.webCurrent.guid}&state=failed`)).pagination.total_results, 0);

      for (const [url, parameter] of [
        ['/admin/images?state=done', 'state'],
        ['/admin/images?stat=ready', 'stat'],
        ['/admin/images?state=ready&state=failed', 'state'],
        ['/admin/images?per_page=0', 'per_page'],
        ['/admin/images?per_page=501', 'per_page'],
        ['/admin/images?page=two', 'page'],
        ['/admin/images?layer_digest=sha256:abc', 'layer_digest'],
        ['/admin/layers?kind=config', 'kind'],
        ['/admin/conversions?state=done', 'state'],
        ['/admin/images/not%20a%20guid', 'droplet_guid'],
        ['/admin/layers/md5:abc', 'digest'],
      ] as const) {
        const res = await call('GET', url);
        assert.equal(res.statusCode, 400, url);
        const error = ociError(res);
        assert.equal(error.code, 'PARAMETER_INVALID', url);
        assert.equal((error.detail as Json).parameter, parameter, url);
        assert.match(error.message, new RegExp(`^${parameter}: `), url);
      }
      assert.equal(ociError(await call('GET', '/admin/images/00000000-0000-4000-8000-000000000000')).code, 'MANIFEST_UNKNOWN');
      assert.equal((await call('GET', `/admin/layers/sha256:${'0'.repeat(64)}`)).statusCode, 404);
    });

    it('retries a failed conversion on request until the image is ready', async () => {
      const { droplet, repository } = await stagedApp('flaky');
      // The token request asks the same route whether the user may download the droplet.
      const failedPull = await pull(repository, () => world.cf.faults.failNext(1, 502, { route: 'GET /v3/droplets/:guid/download' }));
      assert.equal(failedPull.statusCode, 503, failedPull.payload);
      const failed = await imageOf(droplet.guid);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.retryable, true);
      assert.match(failed.error, /Cloud Controller|502/);
      const failures = await get(`/admin/conversions?state=failed&droplet_guid=${droplet.guid}`);
      assert.equal(failures.resources[0].error, failed.error);

      const res = await call('POST', `/admin/images/${droplet.guid}/convert`);
      assert.equal(res.statusCode, 202, res.payload);
      assert.match(String(res.headers.location), new RegExp(`/admin/images/${droplet.guid}$`));
      assert.equal(body(res).conversion, 'requested');
      assert.ok(['pending', 'converting', 'ready'].includes(body(res).images[0].state), body(res).images[0].state);
      const retried = await settled(droplet.guid, 2);
      assert.equal(retried.state, 'ready');
      assert.equal(retried.error, null);
      assert.equal((await pull(repository)).headers['docker-content-digest'], retried.manifest_digest);
      assert.equal((await get(`/admin/conversions?state=succeeded&droplet_guid=${droplet.guid}`)).pagination.total_results, 1);
    });

    it('gives a droplet at fault a new attempt on request, which fails the same way', async () => {
      const { droplet, repository } = await stagedApp('hostile', await buildDroplet([{ name: './app/../../escape', content: 'x' }]));
      assert.equal((await pull(repository)).statusCode, 404);
      const failed = await imageOf(droplet.guid);
      assert.equal(failed.state, 'failed');
      assert.equal(failed.retryable, false);
      assert.equal((await pull(repository)).statusCode, 404);
      assert.equal((await imageOf(droplet.guid)).attempts, 1, 'pulls do not retry a droplet at fault');
      assert.equal((await call('POST', `/admin/images/${droplet.guid}/convert`)).statusCode, 202);
      const again = await settled(droplet.guid, 2);
      assert.equal(again.state, 'failed');
      assert.equal(again.retryable, false);
      assert.equal(again.error, failed.error);
    });

    it('converts a ready image again only when forced, restoring a blob missing from the blobstore', async () => {
      const web = world.seed.droplets.webCurrent.guid;
      const ready = await imageOf(web);
      const notForced = await call('POST', `/admin/images/${web}/convert`);
      assert.equal(notForced.statusCode, 409);
      assert.equal(ociError(notForced).code, 'CONFLICT');
      assert.match(ociError(notForced).message, /force=true/);

      const dropletLayer = ready.layers.droplet[0] as string;
      await rm(join(registry.dataDir, 'blobstore', 'blobs', 'sha256', dropletLayer.slice('sha256:'.length)));
      assert.equal((await get(`/admin/layers/${dropletLayer}`)).present, false);
      const forced = await call('POST', `/admin/images/${web}/convert?force=true`);
      assert.equal(forced.statusCode, 202, forced.payload);
      const again = await settled(web, ready.attempts + 1);
      assert.equal(again.state, 'ready');
      assert.equal(again.manifest_digest, ready.manifest_digest, 'conversions are reproducible');
      assert.equal(again.bytes.total, ready.bytes.total, 'blob references recorded again');
      assert.equal((await get(`/admin/layers/${dropletLayer}`)).present, true);
      assert.equal((await call('POST', `/admin/images/${web}/convert?force=yes`)).statusCode, 400);
    });

    it('converts a droplet nobody pulled yet, found by its guid alone', async () => {
      const { droplet, repository } = await stagedApp('never-pulled');
      assert.equal((await call('GET', `/admin/images/${droplet.guid}`)).statusCode, 404);
      const res = await call('POST', `/admin/images/${droplet.guid}/convert`);
      assert.equal(res.statusCode, 202, res.payload);
      assert.equal(body(res).app_guid, droplet.appGuid);
      const image = await settled(droplet.guid, 1);
      assert.equal(image.state, 'ready');
      const conversions = registry.events.filter((event) => event === 'conversion.started').length;
      assert.equal((await pull(repository)).headers['docker-content-digest'], image.manifest_digest);
      assert.equal(registry.events.filter((event) => event === 'conversion.started').length, conversions, 'the pull found it ready');
    });

    it('refuses to convert droplets that are unknown or cannot become images', async () => {
      const unknown = await call('POST', '/admin/images/00000000-0000-4000-8000-000000000000/convert');
      assert.equal(unknown.statusCode, 404);
      assert.match(ociError(unknown).message, /not found in the droplet source/);
      const docker = await call('POST', `/admin/images/${world.seed.droplets.docker.guid}/convert`);
      assert.equal(docker.statusCode, 409);
      assert.match(ociError(docker).message, /docker lifecycle/);
    });

    it('deletes a droplet’s images, refusing while a conversion holds a live lease; the next pull converts again', async () => {
      const { droplet, repository } = await stagedApp('doomed');
      assert.equal((await pull(repository)).statusCode, 200);
      const image = await imageOf(droplet.guid);
      const db = registry.registry.db;
      // What another instance converting it looks like in the database.
      await db('images').where({ id: image.id }).update({ state: 'converting', lease_expires_at: db.raw(`now() + interval '1 minute'`) });
      await db('conversions').insert({ image_id: image.id, instance: 'instance-elsewhere', state: 'running' });
      assert.equal((await imageOf(droplet.guid)).state, 'converting');
      const running = await get('/admin/conversions?state=running');
      assert.deepEqual(
        running.resources.map((conversion: Json) => [conversion.droplet_guid, conversion.instance, conversion.finished_at, conversion.duration_ms]),
        [[droplet.guid, 'instance-elsewhere', null, null]],
      );
      const busy = await call('DELETE', `/admin/images/${droplet.guid}`);
      assert.equal(busy.statusCode, 409, busy.payload);
      assert.deepEqual((ociError(busy).detail as Json).converting_image_ids, [image.id]);
      await db('images').where({ id: image.id }).update({ lease_expires_at: db.raw(`now() - interval '1 second'`) });
      assert.equal((await imageOf(droplet.guid)).state, 'pending', 'converting without a live lease: nobody is at work on it');
      assert.equal((await get(`/admin/images?state=pending`)).resources.length, 1);
      assert.equal((await get(`/admin/images?state=converting`)).resources.length, 0);

      const deleted = await call('DELETE', `/admin/images/${droplet.guid}`);
      assert.equal(deleted.statusCode, 200, deleted.payload);
      assert.deepEqual(body(deleted).images_removed.map((removed: Json) => removed.id), [image.id]);
      assert.equal((await call('GET', `/admin/images/${droplet.guid}`)).statusCode, 404);
      assert.equal((await call('DELETE', `/admin/images/${droplet.guid}`)).statusCode, 404);
      assert.equal((await get(`/admin/conversions?droplet_guid=${droplet.guid}`)).pagination.total_results, 0, 'its conversion records went with it');
      assert.equal((await get(`/admin/layers/${image.layers.droplet[0]}`)).images.count, 0, 'the layer stays for garbage collection');

      const converted = registry.events.filter((event) => event === 'conversion.succeeded').length;
      const repulled = await pull(repository);
      assert.equal(repulled.statusCode, 200);
      assert.equal(registry.events.filter((event) => event === 'conversion.succeeded').length, converted + 1, 'converted again');
      const fresh = await imageOf(droplet.guid);
      assert.notEqual(fresh.id, image.id);
      assert.equal(fresh.attempts, 1);
      assert.equal(fresh.manifest_digest, image.manifest_digest);
    });

    it('runs garbage collection as a dry run unless told otherwise', async () => {
      const dry = await call('POST', '/admin/gc');
      assert.equal(dry.statusCode, 200, dry.payload);
      const report = body(dry);
      assert.equal(report.dry_run, true);
      assert.ok(Array.isArray(report.images_removed) && Array.isArray(report.blobs_removed));
      assert.equal(typeof report.bytes_freed, 'number');
      const images = (await get('/admin/images')).pagination.total_results;
      assert.equal(ociError(await call('POST', '/admin/gc?dry_run=no')).code, 'PARAMETER_INVALID');
      const real = body(await call('POST', '/admin/gc?dry_run=false'));
      assert.equal(real.dry_run, false);
      assert.equal((await get('/admin/images')).pagination.total_results, images - real.images_removed.length);
    });
  });
}
