/**
 * Garbage collection under a storage budget, on PostgreSQL and PGlite with a filesystem blobstore,
 * images and blobs seeded row by row so that every byte is known: the least recently pulled ready
 * images go first and only until usage is under 90 % of the budget, a blob another image still
 * uses is not counted as freed (and stays), unreferenced blobs are deleted early before any image
 * is evicted, nothing happens under the budget, and an image under a held conversion lease is
 * never evicted. A dry run lists exactly what the real run then removes. The refusal of
 * conversions and the whole loop through the HTTP API are in spec/integration/images/storage-budget.spec.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { FsBlobStore } from '../../../src/blobstore/fs-blob-store.ts';
import { migrateDatabase } from '../../../src/db/migrate-database.ts';
import { StorageBudget } from '../../../src/images/storage-budget.ts';
import { createLogger } from '../../../src/logger.ts';
import { GarbageCollector } from '../../../src/workers/garbage-collector.ts';
import type { GcReport } from '../../../src/workers/gc-report.ts';
import { eachDatabase, type TestDatabase } from '../../support/test-database.ts';

const HOUR_MS = 3_600_000;
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const digestOf = (name: string): string => `sha256:${createHash('sha256').update(name).digest('hex')}`;
const STACK = digestOf('stack');
const LIFECYCLE = digestOf('lifecycle');

/** What a dry run and the real run after it must agree on. */
function removals(report: GcReport): Omit<GcReport, 'dryRun' | 'startedAt' | 'durationMs'> {
  const { dryRun: _dryRun, startedAt: _startedAt, durationMs: _durationMs, ...rest } = report;
  return rest;
}

for (const variant of eachDatabase()) {
  describe(`garbage collection under a storage budget on ${variant.name}`, { skip: await variant.skipReason() }, () => {
    let database: TestDatabase;
    let db: Knex;
    let root: string;
    let store: FsBlobStore;

    before(async () => {
      database = await variant.create();
      db = database.knex;
      await migrateDatabase(db, database.schema);
      root = await mkdtemp(join(tmpdir(), 'storage-budget-'));
    });

    after(async () => {
      await database?.cleanup();
      await rm(root, { recursive: true, force: true });
    });

    beforeEach(async () => {
      for (const table of ['image_blobs', 'conversions', 'images', 'droplets', 'imported_layers', 'layers', 'blobs']) await db(table).delete();
      store = new FsBlobStore({ root: await mkdtemp(join(root, 'blobstore-')) });
      await addBlob('stack', 500);
      await addBlob('lifecycle', 100);
    });

    /** A committed blob of `size` bytes: its row and its file. */
    async function addBlob(name: string, size: number, options: { markedAgoMs?: number } = {}): Promise<string> {
      const digest = digestOf(name);
      const marked = options.markedAgoMs === undefined ? null : db.raw(`now() - ? * interval '1 millisecond'`, [options.markedAgoMs]);
      await db('blobs').insert({ digest, size, media_type: LAYER, unreferenced_since: marked });
      await store.put(digest, Buffer.alloc(size));
      return digest;
    }

    /**
     * A ready image of droplet `name` with a converted layer of its own (100 bytes, also its
     * droplet's row) and a config (10 bytes), last pulled `pulledDaysAgo` days ago (never: null).
     */
    async function addImage(name: string, options: { pulledDaysAgo: number | null; convertedDaysAgo?: number; sharedLayer?: string; leaseHeld?: boolean }) {
      const layer = options.sharedLayer ?? (await addBlob(`layer of ${name}`, 100));
      const config = await addBlob(`config of ${name}`, 10);
      const daysAgo = (days: number) => db.raw(`now() - ? * interval '1 day'`, [days]);
      const [row] = await db('images')
        .insert({
          droplet_guid: name,
          app_guid: `app of ${name}`,
          stack_digest: STACK,
          lifecycle_digest: LIFECYCLE,
          stack: 'cflinuxfs4',
          state: options.leaseHeld ? 'converting' : 'ready',
          manifest_digest: options.leaseHeld ? null : digestOf(`manifest of ${name}`),
          config_digest: config,
          converted_at: daysAgo(options.convertedDaysAgo ?? 10),
          last_pulled_at: options.pulledDaysAgo === null ? null : daysAgo(options.pulledDaysAgo),
          lease_expires_at: options.leaseHeld ? db.raw(`now() + interval '1 minute'`) : null,
        })
        .returning('id');
      const id = Number((row as { id: number }).id);
      await db('image_blobs').insert([
        { image_id: id, digest: STACK, position: 0 },
        { image_id: id, digest: layer, position: 1 },
        { image_id: id, digest: LIFECYCLE, position: 2 },
        { image_id: id, digest: config, position: 3 },
      ]);
      await db('droplets').insert({ droplet_guid: name, app_guid: `app of ${name}`, layers: JSON.stringify([{ digest: layer, size: 100 }]) }).onConflict('droplet_guid').ignore();
      return { id, layer, config };
    }

    function collector(budgetBytes: number) {
      const lines: Array<Record<string, unknown>> = [];
      const logger = createLogger('info', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
      const gc = new GarbageCollector({
        db,
        blobs: store,
        source: { lookupDroplet: async (guid: string) => ({ app: { guid: `app of ${guid}` }, droplet: { guid, state: 'STAGED' } }) as never },
        keepDigests: [STACK, LIFECYCLE],
        imageRetentionDays: 0,
        blobGraceMs: HOUR_MS,
        logger,
        storageBudget: new StorageBudget({ db, budgetBytes, logger }),
      });
      return { gc, lines };
    }

    const dropletsLeft = async () => (await db('images').orderBy('droplet_guid').pluck('droplet_guid')) as string[];
    const usedBytes = async () => Number((await db('blobs').sum({ bytes: 'size' }).first())?.bytes ?? 0);
    const hasFile = async (digest: string) => (await store.stat(digest)) !== null;

    it('evicts the least recently pulled images first, only until usage is under 90 % of the budget, and a dry run lists exactly that', async () => {
      const unpulled = await addImage('converted long ago, never pulled', { pulledDaysAgo: null, convertedDaysAgo: 5 });
      const older = await addImage('pulled three days ago', { pulledDaysAgo: 3 });
      await addImage('pulled an hour ago', { pulledDaysAgo: 1 / 24 });
      await addImage('pulled two days ago', { pulledDaysAgo: 2 });
      assert.equal(await usedBytes(), 1_040);
      const { gc, lines } = collector(1_000);

      const dry = await gc.collect({ dryRun: true });
      assert.deepEqual(
        dry.imagesRemoved.map((image) => [image.dropletGuid, image.reason]),
        [
          ['converted long ago, never pulled', 'over-budget'],
          ['pulled three days ago', 'over-budget'],
        ],
        'the never pulled image (by its conversion, five days ago) and the one pulled three days ago: 1040 - 220 = 820 is under 900',
      );
      const freed = [unpulled.config, unpulled.layer, older.config, older.layer];
      assert.deepEqual(
        dry.blobsRemoved.map((blob) => blob.digest),
        freed,
      );
      assert.deepEqual(dry.storage, { budgetBytes: 1_000, usedBytes: 1_040, overBudget: true, targetBytes: 900, blobsRemovedEarly: 4 });
      assert.equal((await dropletsLeft()).length, 4, 'a dry run removes nothing');
      for (const digest of freed) assert.ok(await hasFile(digest));

      const real = await gc.collect({ dryRun: false });
      assert.deepEqual(removals(real), removals(dry), 'the dry run listed exactly what the real run removed');
      assert.equal(real.bytesFreed, 220);
      assert.deepEqual(await dropletsLeft(), ['pulled an hour ago', 'pulled two days ago']);
      assert.deepEqual(await db('droplets').orderBy('droplet_guid').pluck('droplet_guid'), ['pulled an hour ago', 'pulled two days ago'], 'the droplet rows go with their images');
      for (const digest of freed) {
        assert.equal(await hasFile(digest), false, 'deleted without waiting out the grace period');
        assert.equal(await db('blobs').where({ digest }).first(), undefined);
      }
      assert.equal(await usedBytes(), 820);
      assert.ok(await hasFile(STACK));
      const overBudget = lines.filter((line) => line.event === 'gc.over_budget');
      assert.equal(overBudget.length, 2, 'one warning per run over the budget');
      assert.equal(overBudget[1]?.level, 40);
      assert.deepEqual(
        lines.filter((line) => line.event === 'gc.image_removed').map((line) => line.reason),
        ['over-budget', 'over-budget'],
      );
      const finished = lines.filter((line) => line.event === 'gc.finished').at(-1);
      assert.deepEqual([finished?.imagesEvicted, finished?.usedBytes, finished?.budgetBytes, finished?.blobsRemovedEarly], [2, 1_040, 1_000, 4]);

      const again = await gc.collect({ dryRun: false });
      assert.deepEqual([again.imagesRemoved, again.blobsRemoved, again.storage?.overBudget], [[], [], false], 'under the budget now: nothing more goes');
    });

    it('does not count a blob another image still uses as freed, and keeps it', async () => {
      const first = await addImage('least recently pulled', { pulledDaysAgo: 9 });
      const sharing = await addImage('sharing its layer, pulled recently', { pulledDaysAgo: 0, sharedLayer: first.layer });
      const next = await addImage('next least recently pulled', { pulledDaysAgo: 5 });
      // 600 + 110 + 10 + 110 = 830 against 830 (target 747): the first image frees only its config (10).
      const { gc } = collector(830);
      const report = await gc.collect({ dryRun: false });
      assert.deepEqual(
        report.imagesRemoved.map((image) => image.dropletGuid),
        ['least recently pulled', 'next least recently pulled'],
      );
      assert.deepEqual(report.blobsRemoved.map((blob) => blob.digest), [first.config, next.config, next.layer]);
      assert.ok(await hasFile(first.layer), 'the shared layer stays for the image still using it');
      assert.ok(await hasFile(sharing.config));
      assert.equal(await usedBytes(), 710);
    });

    it('deletes unreferenced blobs within the grace period before evicting any image, only as far as needed', async () => {
      await addImage('an image', { pulledDaysAgo: 30 });
      const old = await addBlob('unreferenced for 50 minutes', 200, { markedAgoMs: 50 * 60_000 });
      const recent = await addBlob('unreferenced for 5 minutes', 200, { markedAgoMs: 5 * 60_000 });
      // 1110 against 1110 (target 999): deleting the blob marked longest ago is enough.
      const { gc } = collector(1_110);
      const report = await gc.collect({ dryRun: false });
      assert.deepEqual(report.imagesRemoved, []);
      assert.deepEqual(report.blobsRemoved.map((blob) => blob.digest), [old]);
      assert.equal(report.storage?.blobsRemovedEarly, 1);
      assert.equal(report.blobsPending, 1, 'the other one waits out its grace period');
      assert.ok(await hasFile(recent));
      assert.deepEqual(await dropletsLeft(), ['an image']);
    });

    it('evicts nothing and deletes nothing early under the budget', async () => {
      await addImage('never pulled', { pulledDaysAgo: null });
      const pending = await addBlob('unreferenced lately', 200, { markedAgoMs: 60_000 });
      const { gc } = collector(911);
      const report = await gc.collect({ dryRun: false });
      assert.deepEqual([report.imagesRemoved, report.blobsRemoved], [[], []]);
      assert.deepEqual(report.storage, { budgetBytes: 911, usedBytes: 910, overBudget: false, targetBytes: 819, blobsRemovedEarly: 0 });
      assert.ok(await hasFile(pending));
    });

    it('never evicts an image under a held conversion lease, and leaves blobs alone while that conversion is in flight', async () => {
      const converting = await addImage('being converted again, pulled long ago', { pulledDaysAgo: 60, leaseHeld: true });
      await addImage('pulled ten days ago', { pulledDaysAgo: 10 });
      await addImage('pulled today', { pulledDaysAgo: 0 });
      // 930 against 920 (target 828): one eviction is enough, and the image being converted is not a candidate.
      const { gc } = collector(920);
      const dry = await gc.collect({ dryRun: true });
      const real = await gc.collect({ dryRun: false });
      assert.deepEqual(removals(real), removals(dry));
      assert.deepEqual(real.imagesRemoved.map((image) => image.dropletGuid), ['pulled ten days ago']);
      assert.deepEqual(real.blobsRemoved, [], 'a conversion in flight may be about to reuse a blob');
      assert.equal(real.blobsPending, 2, "the evicted image's blobs wait for a run without a conversion in flight");
      assert.ok(await hasFile(converting.layer));
      assert.deepEqual(await dropletsLeft(), ['being converted again, pulled long ago', 'pulled today']);
    });
  });
}
