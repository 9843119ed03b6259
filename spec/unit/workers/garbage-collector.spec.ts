/**
 * Garbage collection's own decisions on a migrated embedded database seeded row by row, an
 * in-memory blobstore and a stand-in droplet source: why each image goes (an expired droplet, age)
 * and with how many lookups, what a run frees and how it adds up, blobs left alone while a
 * conversion is in flight, and a blobstore that refuses a delete. Ages are set back with the
 * database's clock. The collector on a populated registry (real conversions, PGlite and
 * PostgreSQL) is in spec/integration/workers/garbage-collector*.spec.ts.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { createLogger } from '../../../src/logger.ts';
import type { DropletSource } from '../../../src/sources/droplet-source.ts';
import { GarbageCollector, type GarbageCollectorOptions } from '../../../src/workers/garbage-collector.ts';
import type { GcRemovedImage } from '../../../src/workers/gc-report.ts';
import { MemoryBlobStore } from '../../support/memory-blob-store.ts';
import { createMigratedPglite } from '../../support/migrated-pglite.ts';

const HOUR_MS = 3_600_000;
const LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';
const CONFIG = 'application/vnd.oci.image.config.v1+json';

const digestOf = (name: string): string => `sha256:${createHash('sha256').update(name).digest('hex')}`;
const ROOTFS = digestOf('cflinuxfs4 rootfs');
const LIFECYCLE = digestOf('lifecycle');

let db: Knex;

before(async () => {
  db = await createMigratedPglite();
});

after(() => db?.destroy());

/** A committed blob: its row and its bytes. */
async function addBlob(blobs: MemoryBlobStore, name: string, size: number, mediaType = LAYER): Promise<string> {
  const digest = digestOf(name);
  await db('blobs').insert({ digest, size, media_type: mediaType });
  await blobs.put(digest, Buffer.from(name));
  return digest;
}

/** An image of `droplet` referencing `blobs` (its layers and config), on the configured base layers. */
async function addImage(image: { droplet: string; app?: string; state?: 'ready' | 'failed' | 'converting'; blobs?: string[]; notPulledForDays?: number; leaseHeld?: boolean }): Promise<number> {
  const state = image.state ?? 'ready';
  const ageDays = image.notPulledForDays ?? 0;
  const [row] = await db('images')
    .insert({
      droplet_guid: image.droplet,
      app_guid: image.app ?? `app-of-${image.droplet}`,
      stack_digest: ROOTFS,
      lifecycle_digest: LIFECYCLE,
      stack: 'cflinuxfs4',
      state,
      manifest_digest: state === 'ready' ? digestOf(`manifest of ${image.droplet}`) : null,
      created_at: db.raw(`now() - ? * interval '1 day'`, [ageDays]),
      updated_at: db.raw(`now() - ? * interval '1 day'`, [ageDays]),
      converted_at: state === 'ready' ? db.raw(`now() - ? * interval '1 day'`, [ageDays]) : null,
      lease_expires_at: image.leaseHeld ? db.raw(`now() + interval '1 minute'`) : null,
    })
    .returning('id');
  const id = Number((row as { id: number }).id);
  for (const [position, digest] of (image.blobs ?? []).entries()) await db('image_blobs').insert({ image_id: id, digest, position });
  return id;
}

/** Marks blobs unreferenced since `ms` ago, as an earlier run would have. */
async function markedAgo(digests: string[], ms: number): Promise<void> {
  await db('blobs').whereIn('digest', digests).update({ unreferenced_since: db.raw(`now() - ? * interval '1 millisecond'`, [ms]) });
}

type DropletState = 'STAGED' | 'EXPIRED' | 'deleted' | 'fails';

/** The droplet source: each droplet's state, counting lookups and how many run at once. */
function dropletSource(states: Record<string, DropletState>): Pick<DropletSource, 'lookupDroplet'> & { lookups: string[]; mostAtOnce: number } {
  let inFlight = 0;
  const source = {
    lookups: [] as string[],
    mostAtOnce: 0,
    lookupDroplet: async (guid: string) => {
      source.lookups.push(guid);
      inFlight += 1;
      source.mostAtOnce = Math.max(source.mostAtOnce, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      const state = states[guid] ?? 'STAGED';
      if (state === 'fails') throw new Error('Cloud Controller answered 503');
      if (state === 'deleted') return null;
      return { app: { guid: `app-of-${guid}` }, droplet: { guid, state } } as unknown as Awaited<ReturnType<DropletSource['lookupDroplet']>>;
    },
  };
  return source;
}

interface Collecting {
  readonly collector: GarbageCollector;
  readonly blobs: MemoryBlobStore;
  readonly removedTold: GcRemovedImage[];
  readonly lines: Array<{ level: number; event?: string; msg: string }>;
}

function collecting(options: { source?: Pick<DropletSource, 'lookupDroplet'>; blobs?: MemoryBlobStore; imageRetentionDays?: number } = {}): Collecting {
  const blobs = options.blobs ?? new MemoryBlobStore();
  const removedTold: GcRemovedImage[] = [];
  const lines: Collecting['lines'] = [];
  const settings: GarbageCollectorOptions = {
    db,
    blobs,
    source: options.source ?? dropletSource({}),
    keepDigests: [ROOTFS, LIFECYCLE],
    imageRetentionDays: options.imageRetentionDays ?? 30,
    blobGraceMs: HOUR_MS,
    logger: createLogger('debug', { destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }),
    onImageRemoved: (image) => void removedTold.push(image),
  };
  return { collector: new GarbageCollector(settings), blobs, removedTold, lines };
}

const imageDroplets = async (): Promise<string[]> => (await db('images').orderBy('droplet_guid').select('droplet_guid')).map((row: { droplet_guid: string }) => row.droplet_guid);

describe('garbage collection', () => {
  beforeEach(async () => {
    // Emptied row by row: cheaper than truncate on PGlite (which makes new files for each table).
    for (const table of ['image_blobs', 'conversions', 'images', 'droplets', 'imported_layers', 'layers', 'blobs']) await db(table).delete();
  });

  describe('of images', () => {
    it('removes the images of expired and deleted droplets, each droplet looked up once and at most 4 at once, and tells the caches', async () => {
      const source = dropletSource({ expired: 'EXPIRED', deleted: 'deleted' });
      const { collector, removedTold } = collecting({ source });
      const expiredId = await addImage({ droplet: 'expired', app: 'app-1' });
      for (const droplet of ['staged-1', 'staged-2', 'staged-3', 'staged-4', 'staged-5']) await addImage({ droplet });
      const deletedId = await addImage({ droplet: 'deleted', app: 'app-2', state: 'failed' });

      const report = await collector.collect({ dryRun: false });
      assert.deepEqual(report.imagesRemoved, [
        { imageId: expiredId, dropletGuid: 'expired', appGuid: 'app-1', state: 'ready', manifestDigest: digestOf('manifest of expired'), reason: 'droplet-expired' },
        { imageId: deletedId, dropletGuid: 'deleted', appGuid: 'app-2', state: 'failed', manifestDigest: null, reason: 'droplet-deleted' },
      ]);
      assert.deepEqual(removedTold, report.imagesRemoved, 'each removal is told, so this instance forgets the image at once');
      assert.deepEqual(await imageDroplets(), ['staged-1', 'staged-2', 'staged-3', 'staged-4', 'staged-5']);
      assert.deepEqual([...source.lookups].sort(), ['deleted', 'expired', 'staged-1', 'staged-2', 'staged-3', 'staged-4', 'staged-5']);
      assert.equal(source.mostAtOnce, 4, 'Cloud Controller is never flooded');
    });

    it('looks a droplet with several images up once and removes all of them', async () => {
      const source = dropletSource({ gone: 'deleted' });
      const { collector } = collecting({ source });
      await addImage({ droplet: 'gone' });
      await db('images').insert({ droplet_guid: 'gone', app_guid: 'app-of-gone', stack_digest: digestOf('cflinuxfs3 rootfs'), lifecycle_digest: LIFECYCLE, stack: 'cflinuxfs3', state: 'failed' });
      const report = await collector.collect({ dryRun: false });
      assert.deepEqual(source.lookups, ['gone']);
      assert.deepEqual(report.imagesRemoved.map((image) => image.reason), ['droplet-deleted', 'droplet-deleted']);
      assert.deepEqual(await imageDroplets(), []);
    });

    it('removes an image not pulled within the retention for its age, without asking the droplet source about it', async () => {
      const source = dropletSource({});
      const { collector } = collecting({ source, imageRetentionDays: 30 });
      await addImage({ droplet: 'forgotten', notPulledForDays: 31 });
      await addImage({ droplet: 'recent', notPulledForDays: 29 });
      const report = await collector.collect({ dryRun: false });
      assert.deepEqual(report.imagesRemoved.map(({ dropletGuid, reason }) => ({ dropletGuid, reason })), [{ dropletGuid: 'forgotten', reason: 'not-pulled' }]);
      assert.deepEqual(source.lookups, ['recent']);
    });

    it('never removes an image for its age with a retention of 0 days', async () => {
      const { collector } = collecting({ imageRetentionDays: 0 });
      await addImage({ droplet: 'ancient', notPulledForDays: 3650 });
      await addImage({ droplet: 'ancient-failure', state: 'failed', notPulledForDays: 3650 });
      const report = await collector.collect({ dryRun: false });
      assert.deepEqual(report.imagesRemoved, []);
      assert.deepEqual(await imageDroplets(), ['ancient', 'ancient-failure']);
    });

    it('in a dry run removes nothing and tells no cache, and the real run then removes what it listed', async () => {
      const source = dropletSource({ expired: 'EXPIRED' });
      const { collector, removedTold, lines } = collecting({ source });
      await addImage({ droplet: 'expired' });
      await addImage({ droplet: 'staged' });
      const dry = await collector.collect({ dryRun: true });
      assert.equal(dry.dryRun, true);
      assert.deepEqual(dry.imagesRemoved.map((image) => image.dropletGuid), ['expired']);
      assert.deepEqual(removedTold, []);
      assert.deepEqual(await imageDroplets(), ['expired', 'staged']);
      assert.equal(lines.find((line) => line.event === 'gc.finished')?.msg, 'garbage collection (dry run): 1 images and 0 blobs (0 bytes) to remove');

      const real = await collector.collect({ dryRun: false });
      assert.deepEqual(real.imagesRemoved, dry.imagesRemoved);
      assert.deepEqual(await imageDroplets(), ['staged']);
    });
  });

  describe('of blobs', () => {
    it('deletes blobs unreferenced past the grace period, adding up the bytes freed, and keeps those within it and the base layers', async () => {
      const blobs = new MemoryBlobStore();
      const { collector, lines } = collecting({ blobs });
      const oldLayer = await addBlob(blobs, 'old droplet layer', 7_340_032);
      const oldConfig = await addBlob(blobs, 'old config', 1_523, CONFIG);
      const recent = await addBlob(blobs, 'recently unreferenced layer', 4_096);
      const inUse = await addBlob(blobs, 'layer in use', 9_999);
      await addBlob(blobs, 'cflinuxfs4 rootfs', 300_000_000);
      await db('layers').insert({ digest: oldLayer, diff_id: digestOf('old droplet tar'), kind: 'droplet', uncompressed_size: 9_000_000 });
      await addImage({ droplet: 'staged', blobs: [inUse] });
      await markedAgo([oldLayer, oldConfig], 2 * HOUR_MS);
      await markedAgo([recent], 10 * 60_000);

      const report = await collector.collect({ dryRun: false });
      assert.deepEqual(
        report.blobsRemoved,
        [
          { digest: oldLayer, size: 7_340_032, mediaType: LAYER },
          { digest: oldConfig, size: 1_523, mediaType: CONFIG },
        ].sort((a, b) => a.digest.localeCompare(b.digest)),
      );
      assert.equal(report.bytesFreed, 7_340_032 + 1_523);
      assert.deepEqual({ marked: report.blobsMarked, pending: report.blobsPending, deferred: report.blobsDeferred }, { marked: 0, pending: 1, deferred: 0 });
      assert.deepEqual(blobs.digests().sort(), [recent, inUse, ROOTFS].sort(), 'the files are gone from the blobstore');
      assert.deepEqual((await db('blobs').orderBy('digest').pluck('digest')).sort(), [recent, inUse, ROOTFS].sort(), 'and their rows');
      assert.deepEqual(await db('layers').pluck('digest'), []);
      assert.equal(lines.find((line) => line.event === 'gc.finished')?.msg, 'garbage collection: 0 images and 2 blobs (7341555 bytes) removed');
    });

    it('marks what the removed images leave unreferenced, to be deleted by a run after the grace period', async () => {
      const blobs = new MemoryBlobStore();
      const { collector } = collecting({ blobs, source: dropletSource({ gone: 'deleted' }) });
      const only = await addBlob(blobs, 'layer of the deleted droplet', 512);
      const shared = await addBlob(blobs, 'layer both use', 256);
      await addImage({ droplet: 'gone', blobs: [only, shared] });
      await addImage({ droplet: 'staged', blobs: [shared] });
      const report = await collector.collect({ dryRun: false });
      assert.deepEqual({ removed: report.blobsRemoved, marked: report.blobsMarked, pending: report.blobsPending }, { removed: [], marked: 1, pending: 1 });
      assert.ok(blobs.digests().includes(only), 'not deleted on the run that found it unreferenced');
    });

    it("keeps a droplet's converted layers while an image of the droplet remains, and removes its row with the last one", async () => {
      const blobs = new MemoryBlobStore();
      const { collector } = collecting({ blobs, source: dropletSource({ gone: 'deleted' }) });
      const kept = await addBlob(blobs, 'converted layer of a droplet with an image', 512);
      const orphaned = await addBlob(blobs, 'converted layer of a deleted droplet', 256);
      await addImage({ droplet: 'staged' });
      await addImage({ droplet: 'gone' });
      await db('droplets').insert([
        { droplet_guid: 'staged', app_guid: 'app-of-staged', layers: JSON.stringify([{ digest: kept, size: 512 }]) },
        { droplet_guid: 'gone', app_guid: 'app-of-gone', layers: JSON.stringify([{ digest: orphaned, size: 256 }]) },
      ]);
      const dry = await collector.collect({ dryRun: true });
      const real = await collector.collect({ dryRun: false });
      for (const report of [dry, real]) assert.equal(report.blobsMarked, 1, `dry run: ${report.dryRun}`);
      assert.deepEqual(await db('droplets').pluck('droplet_guid'), ['staged'], "the deleted droplet's row goes with its last image");
      assert.deepEqual(await db('blobs').whereNotNull('unreferenced_since').pluck('digest'), [orphaned]);
    });

    it('leaves every blob past the grace period to a later run while a conversion is in flight, counting them deferred', async () => {
      const blobs = new MemoryBlobStore();
      const { collector } = collecting({ blobs });
      const stale = [await addBlob(blobs, 'a', 1), await addBlob(blobs, 'b', 2), await addBlob(blobs, 'c', 3)];
      await markedAgo(stale, 2 * HOUR_MS);
      await addImage({ droplet: 'converting-now', state: 'converting', leaseHeld: true });

      const dry = await collector.collect({ dryRun: true });
      const real = await collector.collect({ dryRun: false });
      for (const report of [dry, real]) {
        assert.deepEqual({ removed: report.blobsRemoved, freed: report.bytesFreed, deferred: report.blobsDeferred }, { removed: [], freed: 0, deferred: 3 }, `dry run: ${report.dryRun}`);
      }
      assert.deepEqual(stillHeld(blobs, stale), [true, true, true], 'every file is still there');

      await db('images').where({ droplet_guid: 'converting-now' }).update({ state: 'ready', lease_expires_at: null, updated_at: db.raw(`now() - interval '2 hours'`) });
      const later = await collector.collect({ dryRun: false });
      assert.equal(later.blobsRemoved.length, 3);
      assert.equal(later.bytesFreed, 6);
    });

    it('fails the run on a blob the blobstore refuses to delete, keeping its record so the next run deletes it', async () => {
      const blobs = new MemoryBlobStore();
      const refused = await addBlob(blobs, 'refused once', 64);
      await markedAgo([refused], 2 * HOUR_MS);
      const originalDelete = blobs.delete.bind(blobs);
      blobs.delete = async () => {
        throw Object.assign(new Error('the blobstore answered 503 to DELETE'), { code: 'ServiceUnavailable' });
      };
      const { collector } = collecting({ blobs });
      await assert.rejects(collector.collect({ dryRun: false }), { message: 'the blobstore answered 503 to DELETE' });
      assert.deepEqual(await db('blobs').pluck('digest'), [refused], 'its row is kept, still marked');

      blobs.delete = originalDelete;
      const next = await collector.collect({ dryRun: false });
      assert.deepEqual(next.blobsRemoved.map((blob) => blob.digest), [refused]);
      assert.deepEqual(blobs.digests(), []);
    });
  });
});

/** Which of `digests` the blobstore still holds. */
function stillHeld(blobs: MemoryBlobStore, digests: string[]): boolean[] {
  const held = new Set(blobs.digests());
  return digests.map((digest) => held.has(digest));
}
