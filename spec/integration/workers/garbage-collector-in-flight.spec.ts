/**
 * Garbage collection never races a conversion: an image under conversion (its lease held) is not
 * removed even when its droplet is gone, blobs a conversion may be about to reuse are left for a
 * later run while it is in flight, and blobs with no row (committed by a conversion that has not
 * recorded them yet) are never touched. The droplet is read from a FIFO, so the conversion stays
 * in flight until the test writes it: nothing depends on timing.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { standardDroplet } from '../../support/build-droplet.ts';
import { waitFor } from '../../support/clients/wait-for.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';
import { buildTinyRootfs, createTestRegistry, writeDroplet } from '../../support/test-registry.ts';

const HOUR_MS = 3_600_000;
const OLD = '11111111-1111-4111-8111-111111111111';
const HELD = '22222222-2222-4222-8222-222222222222';

function removals(report: GcReport): Omit<GcReport, 'dryRun' | 'startedAt' | 'durationMs'> {
  const { dryRun: _dryRun, startedAt: _startedAt, durationMs: _durationMs, ...rest } = report;
  return rest;
}

function sidecar(guid: string): Record<string, unknown> {
  return { guid, state: 'STAGED', stack: 'cflinuxfs4', created_at: '2024-01-01T00:00:00Z', process_types: { web: './run.sh' } };
}

for (const variant of eachDatabase()) {
  describe(`garbage collection beside a conversion in flight on ${variant.name}`, { skip: await variant.skipReason() }, () => {
    let work: string;
    let rootfs: string;
    let droplet: Buffer;

    before(async () => {
      work = await mkdtemp(join(tmpdir(), 'gc-in-flight-'));
      rootfs = join(work, 'rootfs.tgz');
      await writeFile(rootfs, await buildTinyRootfs());
      droplet = await standardDroplet({ startCommand: './run.sh' });
    });

    after(() => rm(work, { recursive: true, force: true }));

    it('keeps the converting image and defers the sweep until the conversion has landed', async (t) => {
      const database: TestDatabase | undefined = variant.name === 'postgres' ? await variant.create() : undefined;
      const dropletsDir = join(work, `droplets-${variant.name}`);
      await mkdir(dropletsDir, { recursive: true });
      const test = await createTestRegistry({
        databaseUrl: database?.url,
        stacks: { cflinuxfs4: rootfs },
        dropletsDir,
        env: { MANIFEST_WAIT_MS: '200', GC_INTERVAL_MS: '0', GC_BLOB_GRACE_MS: String(HOUR_MS), ...(database ? { DATABASE_SCHEMA: database.schema } : {}) },
      });
      let release: (() => Promise<void>) | undefined;
      t.after(async () => {
        await release?.(); // a conversion still blocked on its FIFO would hold the registry's stop
        await test.close();
        await database?.cleanup();
      });
      const { server, db, garbageCollector } = test.registry;
      const store = new FsBlobStore({ root: join(test.dataDir, 'blobstore') });
      const count = (event: string) => test.events.filter((logged) => logged === event).length;
      const get = (app: string) => server.inject({ method: 'GET', url: `/v2/org/space/${app}/manifests/latest` });

      // An image of app `old`, whose droplet is then deleted: its blobs become garbage, past the grace period.
      await writeDroplet(dropletsDir, { org: 'org', space: 'space', app: 'old', guid: OLD, bytes: droplet, json: sidecar(OLD) });
      let payload = '';
      // MANIFEST_WAIT_MS is short for the FIFO below: this conversion may take longer, and is retried as clients do.
      await waitFor('the image of app old', async () => {
        const res = await get('old');
        payload = res.payload;
        return res.statusCode === 200;
      });
      const oldManifest = JSON.parse(payload) as { config: { digest: string }; layers: Array<{ digest: string }> };
      const oldConfig = oldManifest.config.digest;
      const dropletLayer = (oldManifest.layers[2] as { digest: string }).digest;
      await rm(join(dropletsDir, 'org', 'space', 'old'), { recursive: true });
      const removed = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(
        removed.imagesRemoved.map((image) => [image.dropletGuid, image.reason]),
        [[OLD, 'droplet-deleted']],
      );
      await db('blobs').whereNotNull('unreferenced_since').update({ unreferenced_since: db.raw(`now() - ? * interval '1 millisecond'`, [HOUR_MS + 60_000]) });

      // App `held` has the same droplet bytes (so the same droplet layer, reproducibly); its download blocks on a FIFO.
      await writeDroplet(dropletsDir, { org: 'org', space: 'space', app: 'held', guid: HELD, bytes: Buffer.alloc(0), json: sidecar(HELD) });
      const fifo = join(dropletsDir, 'org', 'space', 'held', `${HELD}.tgz`);
      await rm(fifo);
      execFileSync('mkfifo', [fifo]);
      const first = await get('held');
      assert.equal(first.statusCode, 429, first.payload);
      await waitFor('the conversion to start', () => count('conversion.started') === 2);
      // The droplet disappears from the source while it is being converted.
      const moved = join(work, `held-${variant.name}.fifo`);
      await rename(fifo, moved);
      release = async () => {
        release = undefined;
        const stream = createWriteStream(moved);
        stream.end(droplet);
        await finished(stream);
      };
      // A blob a conversion committed and has not recorded yet: no row.
      const unrecorded = `sha256:${'0'.repeat(63)}2`;
      await store.put(unrecorded, Buffer.from('committed, not recorded'));

      const dry = await garbageCollector.collect({ dryRun: true });
      const real = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(removals(real), removals(dry), 'the dry run listed exactly what the real run removed');
      assert.deepEqual(real.imagesRemoved, [], 'the image under conversion is kept although its droplet is gone');
      assert.deepEqual(real.blobsRemoved, []);
      assert.equal(real.blobsDeferred, 2, 'the old config and droplet layer wait for the conversion to land');
      for (const digest of [oldConfig, dropletLayer, unrecorded]) assert.ok(await store.stat(digest), `${digest} is kept`);

      await release();
      await waitFor('the conversion to land', () => count('conversion.succeeded') === 2);
      const image = await db('images').where({ droplet_guid: HELD }).first('id', 'state');
      assert.equal(image.state, 'ready');
      assert.ok(await db('image_blobs').where({ image_id: image.id, digest: dropletLayer }).first(), 'the conversion reused the droplet layer the sweep had left alone');

      const dryAfter = await garbageCollector.collect({ dryRun: true });
      const after = await garbageCollector.collect({ dryRun: false });
      assert.deepEqual(removals(after), removals(dryAfter));
      assert.deepEqual(
        after.imagesRemoved.map((entry) => [entry.dropletGuid, entry.reason]),
        [[HELD, 'droplet-deleted']],
        'once converted, the image of the deleted droplet goes',
      );
      assert.deepEqual(
        after.blobsRemoved.map((blob) => blob.digest),
        [oldConfig],
        'the old config goes; the droplet layer, referenced again meanwhile, starts a new grace period',
      );
      assert.ok(await store.stat(dropletLayer));
      assert.ok(await store.stat(unrecorded), 'a blob without a row is not the collector’s');
    });
  });
}
