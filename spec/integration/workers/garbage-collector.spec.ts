/**
 * Garbage collection on a populated registry (the real composition on the CAPI simulator, a
 * filesystem blobstore, PGlite and Postgres): which images go and why, blobs freed only after the
 * grace period, a dry run listing exactly what the real run then removes, base layers kept, pull
 * counts recorded. Time is never waited for: ages are set back in the database.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type DatabaseVariant, type TestDatabase } from '../../support/test-database.ts';
import type { TestRegistry } from '../../support/test-registry.ts';
import { startPrewarmWorld, type PrewarmWorld } from './prewarm-world.ts';

const HOUR_MS = 3_600_000;

/** What a dry run and the real run after it must agree on. */
function removals(report: GcReport): Omit<GcReport, 'dryRun' | 'startedAt' | 'durationMs'> {
  const { dryRun: _dryRun, startedAt: _startedAt, durationMs: _durationMs, ...rest } = report;
  return rest;
}

/** The image rows left, by droplet guid. */
async function imageDroplets(db: Knex): Promise<string[]> {
  return (await db('images').orderBy('droplet_guid').select('droplet_guid')).map((row: { droplet_guid: string }) => row.droplet_guid);
}

/** Sets every mark back past the grace period, as if the next run came an hour later. */
async function ageMarks(db: Knex): Promise<void> {
  await db('blobs')
    .whereNotNull('unreferenced_since')
    .update({ unreferenced_since: db.raw(`now() - ? * interval '1 millisecond'`, [HOUR_MS + 60_000]) });
}

for (const variant of eachDatabase()) {
  describe(`garbage collection on ${variant.name}`, { skip: await variant.skipReason() }, () => {
    let world: PrewarmWorld;

    before(async () => {
      world = await startPrewarmWorld();
    });

    after(() => world.stop());

    /** A registry on the simulated foundation; Postgres gets a fresh database, PGlite lives in the registry's data dir. */
    async function openRegistry(t: { after(fn: () => Promise<void>): void }): Promise<TestRegistry> {
      const database: TestDatabase | undefined = variant.name === 'postgres' ? await (variant as DatabaseVariant).create() : undefined;
      const registry = await world.openRegistry({
        databaseUrl: database?.url,
        env: { GC_INTERVAL_MS: '0', GC_BLOB_GRACE_MS: String(HOUR_MS), GC_IMAGE_RETENTION_DAYS: '30', ...(database ? { DATABASE_SCHEMA: database.schema } : {}) },
      });
      t.after(async () => {
        await registry.close();
        await database?.cleanup();
      });
      return registry;
    }

    it('removes images of deleted droplets and images not pulled within the retention, then their blobs after the grace period', async (t) => {
      const test = await openRegistry(t);
      const { server, db, garbageCollector, pulls } = test.registry;
      const store = new FsBlobStore({ root: join(test.dataDir, 'blobstore') });
      const pull = (app: string, reference = 'latest') => server.inject({ method: 'GET', url: `/v2/acme/development/${app}/manifests/${reference}` });
      const deleted = world.push('gc-deleted');
      const kept = world.push('gc-kept');
      const stale = world.push('gc-stale');
      const manifests = new Map<string, { layers: Array<{ digest: string }>; config: { digest: string } }>();
      for (const app of ['gc-deleted', 'gc-kept', 'gc-stale']) {
        const res = await pull(app);
        assert.equal(res.statusCode, 200, res.payload);
        manifests.set(app, JSON.parse(res.payload));
      }
      const keptManifest = manifests.get('gc-kept') as { layers: Array<{ digest: string }>; config: { digest: string } };
      const [rootfs, lifecycle, keptDropletLayer] = keptManifest.layers.map((layer) => layer.digest) as [string, string, string];
      assert.equal((await pull('gc-kept')).statusCode, 200);
      const blob = await server.inject({ method: 'GET', url: `/v2/acme/development/gc-kept/blobs/${keptDropletLayer}` });
      assert.equal(blob.statusCode, 200);

      await pulls.flush();
      const keptRow = await db('images').where({ droplet_guid: kept.guid }).first('pull_count', 'last_pulled_at');
      assert.equal(keptRow.pull_count, 2, 'two manifest pulls counted');
      assert.ok(keptRow.last_pulled_at instanceof Date);
      assert.equal((await db('layers').where({ digest: keptDropletLayer }).first('pull_count')).pull_count, 1, 'one layer download counted');

      world.cf.foundation.deleteDroplet(deleted);
      await db('images')
        .where({ droplet_guid: stale.guid })
        .update({ last_pulled_at: db.raw(`now() - interval '40 days'`), converted_at: db.raw(`now() - interval '41 days'`) });
      const blobsOf = (app: string) => {
        const manifest = manifests.get(app) as { layers: Array<{ digest: string }>; config: { digest: string } };
        return [manifest.config.digest, (manifest.layers[2] as { digest: string }).digest];
      };
      const doomed = [...blobsOf('gc-deleted'), ...blobsOf('gc-stale')].sort();

      const dry = await garbageCollector.collect({ dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.deepEqual(
        dry.imagesRemoved.map((image) => [image.dropletGuid, image.reason]),
        [
          [deleted.guid, 'droplet-deleted'],
          [stale.guid, 'not-pulled'],
        ],
        'in the order the images were made',
      );
      assert.deepEqual(dry.blobsRemoved, [], 'no blob is deleted before the grace period');
      assert.equal(dry.blobsMarked, doomed.length, 'the droplet layers and configs of both images become unreferenced');
      assert.deepEqual(await imageDroplets(db), [deleted.guid, kept.guid, stale.guid].sort(), 'a dry run removes nothing');

      const real = await garbageCollector.collect({ dryRun: false });
      assert.equal(real.dryRun, false);
      assert.deepEqual(removals(real), removals(dry), 'the dry run listed exactly what the real run removed');
      assert.deepEqual(await imageDroplets(db), [kept.guid]);
      const marked = (await db('blobs').whereNotNull('unreferenced_since').orderBy('digest').select('digest')).map((row: { digest: string }) => row.digest);
      assert.deepEqual(marked, doomed);
      for (const digest of doomed) assert.ok(await store.stat(digest), `${digest} is kept during the grace period`);

      await ageMarks(db);
      const sizes = new Map((await db('blobs').whereIn('digest', doomed).select('digest', 'size')).map((row: { digest: string; size: number }) => [row.digest, row.size]));
      const drySweep = await garbageCollector.collect({ dryRun: true });
      assert.deepEqual(
        drySweep.blobsRemoved.map((removed) => removed.digest),
        doomed,
      );
      for (const digest of doomed) assert.ok(await store.stat(digest), 'a dry run deletes no blob');
      const sweep = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(removals(sweep), removals(drySweep), 'the dry run listed exactly what the real run removed');
      assert.deepEqual(sweep.imagesRemoved, []);
      assert.equal(sweep.bytesFreed, [...sizes.values()].reduce((sum, size) => sum + size, 0));
      assert.ok(sweep.bytesFreed > 0);
      for (const removed of sweep.blobsRemoved) assert.equal(removed.size, sizes.get(removed.digest));
      for (const digest of doomed) {
        assert.equal(await store.stat(digest), null, `${digest} is deleted from the blobstore`);
        assert.equal(await db('blobs').where({ digest }).first(), undefined, `${digest} has no row left`);
      }

      // The image kept, with the base layers every image shares, is whole and still served.
      for (const digest of [rootfs, lifecycle, keptDropletLayer, keptManifest.config.digest]) {
        assert.ok(await store.stat(digest), `${digest} is still in the blobstore`);
        const res = await server.inject({ method: 'GET', url: `/v2/acme/development/gc-kept/blobs/${digest}` });
        assert.equal(res.statusCode, 200, digest);
      }
      assert.equal((await pull('gc-kept')).statusCode, 200);
      const events = test.logs.filter((line) => line.event === 'gc.finished');
      assert.equal(events.length, 4, 'one gc.finished line per run');
      assert.equal(events.at(-1)?.bytesFreed, sweep.bytesFreed);
    });

    it('keeps base layers that no image uses while the configuration names them, and collects an older rootfs and a blob referenced by nothing', async (t) => {
      const test = await openRegistry(t);
      const { db, garbageCollector } = test.registry;
      const store = new FsBlobStore({ root: join(test.dataDir, 'blobstore') });
      const baseLayers = (await db('layers').whereIn('kind', ['rootfs', 'lifecycle']).select('digest')).map((row: { digest: string }) => row.digest);
      assert.ok(baseLayers.length >= 2, 'a rootfs and the lifecycle are imported at start-up');
      const orphan = `sha256:${'0'.repeat(63)}1`;
      await store.put(orphan, Buffer.from('left behind'));
      await db('blobs').insert({ digest: orphan, size: 11, media_type: 'application/octet-stream' });

      // A rootfs imported from a file the configuration no longer names (the stack was patched since).
      const oldRootfs = `sha256:${'0'.repeat(63)}3`;
      await store.put(oldRootfs, Buffer.from('old rootfs'));
      await db('blobs').insert({ digest: oldRootfs, size: 10, media_type: 'application/vnd.oci.image.layer.v1.tar+gzip' });
      await db('layers').insert({ digest: oldRootfs, diff_id: oldRootfs, kind: 'rootfs', uncompressed_size: 10 });
      await db('imported_layers').insert({ kind: 'rootfs', name: 'cflinuxfs4', path: '/old/rootfs.tgz', file_size: 10, file_mtime_ms: 1, layer_digest: oldRootfs });

      const first = await garbageCollector.collect({ dryRun: false });
      assert.equal(first.blobsMarked, 2, 'only the blobs nothing references are marked');
      await ageMarks(db);
      const second = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(second.blobsRemoved, [
        { digest: orphan, size: 11, mediaType: 'application/octet-stream' },
        { digest: oldRootfs, size: 10, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
      ]);
      assert.equal(second.bytesFreed, 21);
      assert.equal(await db('imported_layers').where({ layer_digest: oldRootfs }).first(), undefined, 'its import record goes with it');
      assert.equal(await store.stat(oldRootfs), null);
      for (const digest of baseLayers) {
        assert.ok(await store.stat(digest), `base layer ${digest} is kept`);
        assert.ok(await db('blobs').where({ digest }).first(), `base layer ${digest} keeps its row`);
      }
    });

    it('removes failed and abandoned conversions older than the retention, never one whose lease is held', async (t) => {
      const test = await openRegistry(t);
      const { db, garbageCollector } = test.registry;
      const live = world.push('gc-rows').guid;
      const gone = world.push('gc-rows-gone');
      world.cf.foundation.deleteDroplet(gone);
      const [lifecycle] = (await db('layers').where({ kind: 'lifecycle' }).select('digest')).map((row: { digest: string }) => row.digest);
      const row = (dropletGuid: string, n: number, fields: Record<string, unknown>) => ({
        droplet_guid: dropletGuid,
        stack_digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
        lifecycle_digest: lifecycle,
        app_guid: 'app',
        stack: 'cflinuxfs4',
        ...fields,
      });
      const old = db.raw(`now() - interval '40 days'`);
      await db('images').insert([
        row(live, 1, { state: 'failed', error: 'boom', updated_at: old, created_at: old }),
        row(live, 2, { state: 'failed', error: 'boom' }),
        row(live, 3, { state: 'converting', lease_expires_at: old, updated_at: old, created_at: old }),
        row(gone.guid, 4, { state: 'converting', lease_expires_at: db.raw(`now() + interval '1 minute'`), updated_at: old, created_at: old }),
        row(live, 5, { state: 'ready', converted_at: old, created_at: old, last_pulled_at: db.raw(`now() - interval '29 days'`) }),
      ]);
      const dry = await garbageCollector.collect({ dryRun: true });
      const real = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(removals(real), removals(dry));
      assert.deepEqual(
        real.imagesRemoved.map((image) => [image.state, image.reason]),
        [
          ['failed', 'failed'],
          ['converting', 'abandoned'],
        ],
      );
      const left = await db('images').orderBy('id').select('state', 'droplet_guid');
      assert.deepEqual(
        left.map((image: { state: string; droplet_guid: string }) => [image.state, image.droplet_guid === gone.guid ? 'gone' : 'live']),
        [
          ['failed', 'live'],
          ['converting', 'gone'],
          ['ready', 'live'],
        ],
        'a recent failure, a conversion holding its lease (whose droplet is gone) and an image pulled within the retention stay',
      );
    });

    it('counts a droplet that cannot be looked up as a failure and keeps its image', async (t) => {
      const test = await openRegistry(t);
      const { server, db, garbageCollector } = test.registry;
      const app = world.push('gc-unreachable');
      assert.equal((await server.inject({ method: 'GET', url: '/v2/acme/development/gc-unreachable/manifests/latest' })).statusCode, 200);
      world.cf.faults.failNext(1000, 503, { route: 'GET /v3/droplets/:guid' });
      t.after(() => world.cf.faults.reset());
      const report = await garbageCollector.collect({ dryRun: false });
      assert.ok(report.lookupFailures >= 1);
      assert.deepEqual(await imageDroplets(db), [app.guid], 'an outage is never taken for a deleted droplet');
    });
  });
}

describe('the periodic garbage collection worker', () => {
  let world: PrewarmWorld;

  before(async () => {
    world = await startPrewarmWorld();
  });

  after(() => world.stop());

  it('collects every GC_INTERVAL_MS once started, and stops with the registry', async () => {
    const test = await world.openRegistry({ env: { GC_INTERVAL_MS: '20' } });
    try {
      assert.ok(test.registry.gcWorker);
      test.registry.gcWorker.start();
      await waitFor('two garbage collections', () => test.events.filter((event) => event === 'gc.finished').length >= 2, { timeoutMs: 30_000, intervalMs: 20 });
    } finally {
      await test.close();
    }
  });

  it('is not built with GC_INTERVAL_MS=0', async () => {
    const test = await world.openRegistry({ env: { GC_INTERVAL_MS: '0' } });
    try {
      assert.equal(test.registry.gcWorker, undefined);
    } finally {
      await test.close();
    }
  });
});
