/**
 * The OCI pull API, through `server.inject` on the real composition: every row of the endpoint
 * table (reference/oci-registry.md), conversion on first pull, error codes, on PGlite and
 * PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { ServerInjectResponse } from '@hapi/hapi';
import { buildDroplet, standardDroplet } from '../../support/build-droplet.ts';
import { eachDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet, type TestRegistry } from '../../support/test-registry.ts';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const GUID_A = '11111111-1111-4111-8111-111111111111';
const GUID_B = '22222222-2222-4222-8222-222222222222';
const OTHER_GUID = '33333333-3333-4333-8333-333333333333';

const sha256 = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

function errorCode(res: ServerInjectResponse): string | undefined {
  return (JSON.parse(res.payload) as { errors: Array<{ code: string }> }).errors[0]?.code;
}

for (const database of eachDatabase()) {
  describe(`pull API (${database.name})`, { skip: await database.skipReason() }, () => {
    let work: string;
    let dropletsDir: string;
    let rootfsPath: string;
    let handle: Awaited<ReturnType<typeof database.create>>;
    let registry: TestRegistry;
    const inject = (method: string, url: string, headers: Record<string, string> = {}) =>
      registry.registry.server.inject({ method, url, headers });
    const countRows = async (table: string, where: Record<string, unknown> = {}) =>
      Number((await registry.registry.db(table).where(where).count({ n: '*' }))[0]?.n);

    before(async () => {
      handle = await database.create();
      work = await mkdtemp(join(tmpdir(), 'pull-api-'));
      dropletsDir = join(work, 'droplets');
      rootfsPath = join(work, 'rootfs.tgz');
      await writeFile(rootfsPath, await buildTinyRootfs());
      // hello: two droplets, B current (newer); its web command comes from process_types.
      await writeDroplet(dropletsDir, {
        org: 'my-org', space: 'dev', app: 'hello', guid: GUID_A,
        bytes: await standardDroplet({ startCommand: './run-a.sh' }),
        json: { guid: GUID_A, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run-a.sh' } },
      });
      await writeDroplet(dropletsDir, {
        org: 'my-org', space: 'dev', app: 'hello', guid: GUID_B,
        bytes: await standardDroplet({ startCommand: './from-staging-info.sh' }),
        json: { guid: GUID_B, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-02-01T00:00:00Z', buildpacks: [{ name: 'binary_buildpack', version: '1.1.0' }] },
      });
      // other: an app of another space, for cross-repository checks.
      await writeDroplet(dropletsDir, { org: 'my-org', space: 'prod', app: 'other', guid: OTHER_GUID, bytes: await standardDroplet({ startCommand: './other.sh' }) });
      registry = await createTestRegistry({ databaseUrl: handle.url, stacks: { cflinuxfs4: rootfsPath }, dropletsDir });
      assert.ok(registry.events.includes('import.start'), 'a new rootfs is imported at start-up');
    });

    after(async () => {
      await registry?.close();
      await handle?.cleanup();
      await rm(work, { recursive: true, force: true });
    });

    it('answers the version check with {} and the API version header', async () => {
      const res = await inject('GET', '/v2/');
      assert.equal(res.statusCode, 200);
      assert.deepEqual(JSON.parse(res.payload), {});
      assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    });

    it('serves latest as an OCI manifest, converting the current droplet once', async () => {
      const [first, second, third] = await Promise.all([1, 2, 3].map(() => inject('GET', '/v2/my-org/dev/hello/manifests/latest')));
      for (const res of [first, second, third]) {
        assert.equal(res?.statusCode, 200, res?.payload);
        assert.equal(res?.headers['content-type'], OCI_MANIFEST);
        assert.equal(res?.headers['docker-content-digest'], sha256(res?.rawPayload as Buffer));
        assert.equal(Number(res?.headers['content-length']), res?.rawPayload.length);
      }
      assert.equal(second?.payload, first?.payload);
      const manifest = JSON.parse(first?.payload as string);
      assert.equal(manifest.mediaType, OCI_MANIFEST);
      assert.equal(manifest.layers.length, 3);
      assert.equal(await countRows('conversions'), 1, 'three concurrent pulls, one conversion');
      await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      assert.equal(await countRows('conversions'), 1, 'a later pull converts nothing');
    });

    it('answers HEAD with the GET headers and no body', async () => {
      const get = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      const head = await inject('HEAD', '/v2/my-org/dev/hello/manifests/latest');
      assert.equal(head.statusCode, 200);
      assert.equal(head.payload, '');
      assert.equal(head.headers['docker-content-digest'], get.headers['docker-content-digest']);
      assert.equal(head.headers['content-length'], get.headers['content-length']);
      assert.equal(head.headers['content-type'], OCI_MANIFEST);
    });

    it('serves the same bytes by digest and by droplet guid, whatever Accept says', async () => {
      const latest = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      const digest = latest.headers['docker-content-digest'] as string;
      const byDigest = await inject('GET', `/v2/my-org/dev/hello/manifests/${digest}`, { accept: 'application/vnd.docker.distribution.manifest.v2+json' });
      assert.equal(byDigest.statusCode, 200);
      assert.deepEqual(byDigest.rawPayload, latest.rawPayload);
      const byGuid = await inject('GET', `/v2/my-org/dev/hello/manifests/${GUID_B}`);
      assert.deepEqual(byGuid.rawPayload, latest.rawPayload);
      const headByDigest = await inject('HEAD', `/v2/my-org/dev/hello/manifests/${digest}`);
      assert.equal(headByDigest.statusCode, 200);
      assert.match(byDigest.headers['cache-control'] as string, /max-age=31536000/, 'content by digest is immutable');
      assert.equal(latest.headers['cache-control'], 'no-cache', 'a tag moves with the next cf push');
    });

    it('builds a runnable config: launcher, vcap user, web command from staging_info.yml', async () => {
      const manifest = JSON.parse((await inject('GET', '/v2/my-org/dev/hello/manifests/latest')).payload);
      const res = await inject('GET', `/v2/my-org/dev/hello/blobs/${manifest.config.digest}`);
      assert.equal(res.statusCode, 200);
      assert.equal(sha256(res.rawPayload), manifest.config.digest);
      const config = JSON.parse(res.payload);
      assert.equal(config.config.User, '2000:2000');
      assert.deepEqual(config.config.Entrypoint, ['/tmp/lifecycle/launcher', 'app']);
      assert.deepEqual(config.config.Cmd, ['./from-staging-info.sh', '']);
      assert.equal(config.config.Labels['org.cloudfoundry.droplet.guid'], GUID_B);
      assert.equal(config.config.Labels['org.cloudfoundry.buildpacks'], 'binary_buildpack@1.1.0');
      assert.equal(config.created, '2024-02-01T00:00:00Z');
      assert.equal(config.rootfs.diff_ids.length, 3);
    });

    it('serves layers whose digests and diff_ids match their bytes, the droplet under home/vcap', async () => {
      const manifest = JSON.parse((await inject('GET', `/v2/my-org/dev/hello/manifests/${GUID_A}`)).payload);
      const config = JSON.parse((await inject('GET', `/v2/my-org/dev/hello/blobs/${manifest.config.digest}`)).payload);
      assert.deepEqual(config.config.Cmd, ['./run-a.sh', '']);
      for (const [index, layer] of (manifest.layers as Array<{ digest: string; size: number; mediaType: string }>).entries()) {
        // What Go's HTTP client (docker, containerd, skopeo) sends: the layer must still come as stored, not gzipped again.
        const res = await inject('GET', `/v2/my-org/dev/hello/blobs/${layer.digest}`, { 'accept-encoding': 'gzip' });
        assert.equal(res.statusCode, 200);
        assert.equal(res.headers['content-encoding'], undefined);
        assert.equal(Number(res.headers['content-length']), layer.size);
        assert.equal(res.rawPayload.length, layer.size);
        assert.equal(sha256(res.rawPayload), layer.digest);
        assert.equal(sha256(gunzipSync(res.rawPayload)), config.rootfs.diff_ids[index]);
        assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      }
      const rootfs = await inject('GET', `/v2/my-org/dev/hello/blobs/${manifest.layers[0].digest}`);
      assert.deepEqual(rootfs.rawPayload, await (await import('node:fs/promises')).readFile(rootfsPath), 'rootfs served unchanged');
      const dropletLayer = gunzipSync((await inject('GET', `/v2/my-org/dev/hello/blobs/${manifest.layers[2].digest}`)).rawPayload).toString('latin1');
      assert.match(dropletLayer, /home\/vcap\/app\//);
      assert.match(dropletLayer, /home\/vcap\/staging_info\.yml/);
    });

    it('answers blob HEAD from metadata and honours Range', async () => {
      const manifest = JSON.parse((await inject('GET', '/v2/my-org/dev/hello/manifests/latest')).payload);
      const { digest, size } = manifest.layers[2] as { digest: string; size: number };
      const full = (await inject('GET', `/v2/my-org/dev/hello/blobs/${digest}`)).rawPayload;
      const head = await inject('HEAD', `/v2/my-org/dev/hello/blobs/${digest}`);
      assert.equal(head.statusCode, 200);
      assert.equal(head.payload, '');
      assert.equal(Number(head.headers['content-length']), size);
      assert.equal(head.headers['docker-content-digest'], digest);

      const part = await inject('GET', `/v2/my-org/dev/hello/blobs/${digest}`, { range: 'bytes=10-19' });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 10-19/${size}`);
      assert.deepEqual(part.rawPayload, full.subarray(10, 20));
      const tail = await inject('GET', `/v2/my-org/dev/hello/blobs/${digest}`, { range: 'bytes=-7' });
      assert.deepEqual(tail.rawPayload, full.subarray(size - 7));
      const beyond = await inject('GET', `/v2/my-org/dev/hello/blobs/${digest}`, { range: `bytes=${size}-` });
      assert.equal(beyond.statusCode, 416);
      assert.equal(beyond.headers['content-range'], `bytes */${size}`);
    });

    it("never serves another repository's blobs, unknown digests or malformed ones", async () => {
      const hello = JSON.parse((await inject('GET', '/v2/my-org/dev/hello/manifests/latest')).payload);
      const other = JSON.parse((await inject('GET', '/v2/my-org/prod/other/manifests/latest')).payload);
      const foreign = await inject('GET', `/v2/my-org/prod/other/blobs/${hello.layers[2].digest}`);
      assert.equal(foreign.statusCode, 404);
      assert.equal(errorCode(foreign), 'BLOB_UNKNOWN');
      const shared = await inject('HEAD', `/v2/my-org/prod/other/blobs/${hello.layers[0].digest}`);
      assert.equal(shared.statusCode, 200, 'the rootfs layer is part of both images');
      assert.notEqual(other.layers[2].digest, hello.layers[2].digest);
      const unknown = await inject('GET', `/v2/my-org/dev/hello/blobs/sha256:${'0'.repeat(64)}`);
      assert.equal(errorCode(unknown), 'BLOB_UNKNOWN');
      const malformed = await inject('GET', '/v2/my-org/dev/hello/blobs/sha256:totallywrong');
      assert.equal(malformed.statusCode, 400);
      assert.equal(errorCode(malformed), 'DIGEST_INVALID');
      const byOtherDigest = await inject('GET', `/v2/my-org/prod/other/manifests/${hello.layers[2].digest}`);
      assert.equal(errorCode(byOtherDigest), 'MANIFEST_UNKNOWN');
    });

    it('lists tags sorted, with n/last paging and a Link to the next page', async () => {
      const all = await inject('GET', '/v2/my-org/dev/hello/tags/list');
      assert.equal(all.statusCode, 200);
      assert.deepEqual(JSON.parse(all.payload), { name: 'my-org/dev/hello', tags: [GUID_A, GUID_B, 'latest'] });
      const page = await inject('GET', '/v2/my-org/dev/hello/tags/list?n=2');
      assert.deepEqual(JSON.parse(page.payload).tags, [GUID_A, GUID_B]);
      assert.equal(page.headers.link, `</v2/my-org/dev/hello/tags/list?n=2&last=${GUID_B}>; rel="next"`);
      const next = await inject('GET', `/v2/my-org/dev/hello/tags/list?n=2&last=${GUID_B}`);
      assert.deepEqual(JSON.parse(next.payload).tags, ['latest']);
      assert.equal(next.headers.link, undefined);
      const bad = await inject('GET', '/v2/my-org/dev/hello/tags/list?n=lots');
      assert.equal(bad.statusCode, 400);
      assert.equal(errorCode(bad), 'PAGINATION_NUMBER_INVALID');
    });

    it('answers referrers with an empty OCI index', async () => {
      const res = await inject('GET', `/v2/my-org/dev/hello/referrers/sha256:${'a'.repeat(64)}`);
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/vnd.oci.image.index.v1+json');
      assert.deepEqual(JSON.parse(res.payload), { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    });

    it('refuses every write verb with 405 UNSUPPORTED', async () => {
      for (const [method, url] of [
        ['POST', '/v2/my-org/dev/hello/blobs/uploads/'],
        ['PUT', '/v2/my-org/dev/hello/manifests/latest'],
        ['PATCH', '/v2/my-org/dev/hello/blobs/uploads/x'],
        ['DELETE', `/v2/my-org/dev/hello/manifests/sha256:${'a'.repeat(64)}`],
      ] as const) {
        const res = await inject(method, url);
        assert.equal(res.statusCode, 405, `${method} ${url}`);
        assert.equal(errorCode(res), 'UNSUPPORTED');
        assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
      }
    });

    it('answers bad names and references with the right codes', async () => {
      const cases: Array<[string, number, string]> = [
        ['/v2/My-Org/dev/hello/manifests/latest', 400, 'NAME_INVALID'],
        ['/v2/my-org/dev/nope/manifests/latest', 404, 'NAME_UNKNOWN'],
        ['/v2/no-org/dev/hello/manifests/latest', 404, 'NAME_UNKNOWN'],
        ['/v2/hello/manifests/latest', 404, 'NAME_UNKNOWN'],
        ['/v2/my-org/dev/hello/manifests/.INVALID_MANIFEST_NAME', 404, 'MANIFEST_UNKNOWN'],
        ['/v2/my-org/dev/hello/manifests/sha256:totallywrong', 400, 'DIGEST_INVALID'],
        [`/v2/my-org/dev/hello/manifests/sha256:${'b'.repeat(64)}`, 404, 'MANIFEST_UNKNOWN'],
        [`/v2/my-org/dev/hello/manifests/${OTHER_GUID}`, 404, 'MANIFEST_UNKNOWN'],
        ['/v2/my-org/dev/nope/tags/list', 404, 'NAME_UNKNOWN'],
        ['/v2/my-org/dev/hello/nothing/here', 404, 'NAME_UNKNOWN'],
      ];
      for (const [url, status, code] of cases) {
        const res = await inject('GET', url);
        assert.equal(res.statusCode, status, url);
        assert.equal(errorCode(res), code, url);
        assert.equal(res.headers['content-type'], 'application/json; charset=utf-8', url);
      }
    });

    it('explains droplets that cannot become images', async () => {
      const base = { org: 'my-org', space: 'edge' };
      const bytes = await standardDroplet({ startCommand: './x' });
      await writeDroplet(dropletsDir, { ...base, app: 'docker-app', guid: 'd1', bytes, json: { state: 'STAGED', lifecycle: { type: 'docker' }, stack: null } });
      await writeDroplet(dropletsDir, { ...base, app: 'staging-app', guid: 'd2', bytes, json: { state: 'STAGING', created_at: '2024-01-01T00:00:00Z' } });
      await writeDroplet(dropletsDir, { ...base, app: 'old-stack', guid: 'd3', bytes, json: { state: 'STAGED', stack: 'cflinuxfs2' } });
      await writeFile(join(dropletsDir, 'my-org', 'edge', 'staging-app', 'current'), 'd2\n');
      const expectations: Array<[string, RegExp]> = [
        ['docker-app', /docker lifecycle/],
        ['staging-app', /is STAGING, not STAGED/],
        ['old-stack', /stack cflinuxfs2 .* has no rootfs configured/],
      ];
      for (const [app, reason] of expectations) {
        const res = await inject('GET', `/v2/my-org/edge/${app}/manifests/latest`);
        assert.equal(res.statusCode, 404, app);
        const error = JSON.parse(res.payload).errors[0];
        assert.equal(error.code, 'MANIFEST_UNKNOWN');
        assert.match(error.detail.reason, reason);
      }
    });

    it('fails a hostile droplet clearly, stores nothing for it, and keeps serving others', async () => {
      const blobsBefore = (await readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256'))).sort();
      const conversionsBefore = await countRows('conversions');
      const evil = await buildDroplet([
        { name: './', type: 'directory' },
        { name: './app/', type: 'directory' },
        { name: './app/ok.txt', content: 'fine' },
        { name: './app/../../etc/passwd', content: 'root::0:0::/:/bin/sh' },
      ]);
      await writeDroplet(dropletsDir, { org: 'my-org', space: 'edge', app: 'evil', guid: 'e1', bytes: evil });
      const res = await inject('GET', '/v2/my-org/edge/evil/manifests/latest');
      assert.equal(res.statusCode, 404);
      const error = JSON.parse(res.payload).errors[0];
      assert.equal(error.code, 'MANIFEST_UNKNOWN');
      assert.match(error.message, /cannot be converted: .*\.\.\/\.\.\/etc\/passwd/);
      assert.deepEqual((await readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256'))).sort(), blobsBefore);
      assert.deepEqual(await readdir(join(registry.dataDir, 'blobstore', 'staging')).catch(() => []), []);
      assert.equal(await countRows('images', { droplet_guid: 'e1', state: 'failed' }), 1);
      const again = await inject('GET', '/v2/my-org/edge/evil/manifests/latest');
      assert.equal(again.statusCode, 404);
      assert.equal(await countRows('conversions'), conversionsBefore + 1, 'a droplet known to be bad is not converted again');
      assert.equal((await inject('GET', '/v2/my-org/dev/hello/manifests/latest')).statusCode, 200);
    });

    it('fails a droplet whose checksum does not match, committing nothing', async () => {
      const blobsBefore = (await readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256'))).sort();
      const bytes = await standardDroplet({ startCommand: './x' });
      await writeDroplet(dropletsDir, {
        org: 'my-org', space: 'edge', app: 'tampered', guid: 't1', bytes,
        json: { state: 'STAGED', checksum: { type: 'sha256', value: 'f'.repeat(64) } },
      });
      const res = await inject('GET', '/v2/my-org/edge/tampered/manifests/latest');
      assert.equal(res.statusCode, 404);
      assert.match(JSON.parse(res.payload).errors[0].message, /does not match its sha256 checksum/);
      assert.deepEqual((await readdir(join(registry.dataDir, 'blobstore', 'blobs', 'sha256'))).sort(), blobsBefore);
      const good = { state: 'STAGED', checksum: { type: 'sha256', value: sha256(bytes).slice(7) } };
      await writeDroplet(dropletsDir, { org: 'my-org', space: 'edge', app: 'verified', guid: 'v1', bytes, json: good });
      assert.equal((await inject('GET', '/v2/my-org/edge/verified/manifests/latest')).statusCode, 200);
    });

    it('gives the same digests after a restart, without re-importing the rootfs or converting again', async () => {
      const before = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      const conversions = await countRows('conversions');
      const imported = await countRows('imported_layers');
      await registry.close({ keepData: true });
      registry = await createTestRegistry({ databaseUrl: handle.url, stacks: { cflinuxfs4: rootfsPath }, dropletsDir, dataDir: registry.dataDir });
      assert.ok(!registry.events.includes('import.start'), 'the unchanged rootfs is not hashed again');
      const afterRestart = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      assert.deepEqual(afterRestart.rawPayload, before.rawPayload);
      assert.ok(!registry.events.includes('conversion.succeeded'));
      assert.equal(await countRows('conversions'), conversions);
      assert.equal(await countRows('imported_layers'), imported);
    });

    it('builds a new image, never a stale one, when the stack rootfs is patched: rebased, not converted', async () => {
      const before = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      await registry.close({ keepData: true });
      const patched = await buildDroplet([
        { name: 'etc/', type: 'directory', mode: 0o755, uid: 0, gid: 0 },
        { name: 'etc/os-release', content: 'PATCHED=yes\n', mode: 0o644, uid: 0, gid: 0 },
      ]);
      await writeFile(rootfsPath, patched);
      registry = await createTestRegistry({ databaseUrl: handle.url, stacks: { cflinuxfs4: rootfsPath }, dropletsDir, dataDir: registry.dataDir });
      assert.ok(registry.events.includes('import.start'), 'the changed file is imported again');
      const after = await inject('GET', '/v2/my-org/dev/hello/manifests/latest');
      assert.equal(after.statusCode, 200);
      assert.notEqual(after.headers['docker-content-digest'], before.headers['docker-content-digest']);
      assert.ok(registry.events.includes('image.rebased'), "the droplet's stored layers are put on the new rootfs");
      assert.ok(!registry.events.includes('conversion.succeeded'), 'the droplet is not converted again');
      assert.deepEqual(JSON.parse(after.payload).layers.slice(1), JSON.parse(before.payload).layers.slice(1));
      assert.equal(JSON.parse(after.payload).layers[0].digest, sha256(patched));
      const old = await inject('GET', `/v2/my-org/dev/hello/manifests/${before.headers['docker-content-digest']}`);
      assert.equal(old.statusCode, 200, 'the image on the old rootfs stays pullable by digest');
    });
  });
}

describe('reproducibility across registries', () => {
  it('gives the same manifest digest for the same droplet and rootfs on two fresh registries', async () => {
    const work = await mkdtemp(join(tmpdir(), 'repro-'));
    const rootfsPath = join(work, 'rootfs.tgz');
    await writeFile(rootfsPath, await buildTinyRootfs());
    const bytes = await standardDroplet({ startCommand: './run.sh' });
    const digests: string[] = [];
    for (const run of ['one', 'two']) {
      const dropletsDir = join(work, run);
      await writeDroplet(dropletsDir, { org: 'o', space: 's', app: 'a', guid: GUID_A, bytes, json: { created_at: '2024-01-01T00:00:00Z' } });
      const registry = await createTestRegistry({ stacks: { cflinuxfs4: rootfsPath }, dropletsDir });
      try {
        const res = await registry.registry.server.inject('/v2/o/s/a/manifests/latest');
        assert.equal(res.statusCode, 200, res.payload);
        digests.push(res.headers['docker-content-digest'] as string);
      } finally {
        await registry.close();
      }
    }
    assert.equal(digests[0], digests[1]);
    await rm(work, { recursive: true, force: true });
  });
});
