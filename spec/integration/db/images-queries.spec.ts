/**
 * Image rows under concurrency: attempts on two instances must never undo each other's success.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { migrateDatabase } from '../../../src/db/migrate-database.ts';
import { completeImage, failImage, findImage, claimImageConversion, renewImageLease, type ImageKey } from '../../../src/db/queries/images.ts';
import { recordBlob } from '../../../src/db/queries/layers.ts';
import { eachDatabase, type DatabaseVariant } from '../../support/test-database.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const KEY: ImageKey = { dropletGuid: 'droplet-1', stackDigest: digest('a'), foundationDigest: '', lifecycleDigest: digest('b') };
const IMAGE = { appGuid: 'app-1', stack: 'cflinuxfs4', instance: 'instance-a', leaseMs: 60_000 };

async function migrated(db: DatabaseVariant, t: TestContext) {
  const database = await db.create(t);
  if (!database) return null;
  t.after(() => database.cleanup());
  await migrateDatabase(database.knex, database.schema);
  for (const c of ['a', 'b', 'c', 'd']) await recordBlob(database.knex, { digest: digest(c), size: 1, mediaType: 'x' });
  return database.knex;
}

async function complete(knex: Parameters<typeof completeImage>[0], id: number) {
  await completeImage(knex, id, {
    manifestDigest: digest('e'),
    manifest: Buffer.from('{}'),
    configDigest: digest('c'),
    blobDigests: [digest('a'), digest('d'), digest('b'), digest('c')],
    conversionMs: 1,
  });
}

for (const db of eachDatabase()) {
  describe(`image rows on ${db.name}`, () => {
    it('leases a conversion to one instance until its lease runs out, and does not restart a ready image', async (t) => {
      const knex = await migrated(db, t);
      if (!knex) return;
      const claims = await Promise.all(['a', 'b', 'c'].map((name) => claimImageConversion(knex, KEY, { ...IMAGE, instance: `instance-${name}` })));
      const id = claims.find((claim) => claim !== null);
      assert.equal(claims.filter((claim) => claim !== null).length, 1, 'one claim wins');
      assert.equal(typeof id, 'number');
      assert.equal(await claimImageConversion(knex, KEY, { ...IMAGE, instance: 'instance-b' }), null, 'the lease is held');
      await knex('images').where({ id }).update({ lease_expires_at: knex.raw(`now() - interval '1 second'`) });
      assert.equal(await claimImageConversion(knex, KEY, { ...IMAGE, instance: 'instance-b' }), id, 'a lapsed lease is taken over, on the same row');
      const winner = (await knex('images').where({ id }).first('instance')).instance as string;
      assert.equal(await renewImageLease(knex, id as number, { instance: 'instance-z', leaseMs: 60_000 }), false, 'only the holder renews');
      assert.equal(await renewImageLease(knex, id as number, { instance: winner, leaseMs: 60_000 }), true);
      await complete(knex, id as number);
      assert.equal(await claimImageConversion(knex, KEY, IMAGE), null, 'ready: nothing to start');
      const image = await findImage(knex, KEY);
      assert.equal(image?.state, 'ready');
      assert.equal(Number((await knex('images').where({ id }).first('attempts')).attempts), 2);
    });

    it('keeps a ready image ready when a late attempt fails, and completes twice without conflict', async (t) => {
      const knex = await migrated(db, t);
      if (!knex) return;
      const id = (await claimImageConversion(knex, KEY, IMAGE)) as number;
      await complete(knex, id);
      await complete(knex, id);
      await failImage(knex, id, { error: 'late failure', retryable: true });
      const image = await findImage(knex, KEY);
      assert.equal(image?.state, 'ready');
      assert.equal(image?.error, null);
      assert.equal(Number((await knex('image_blobs').where({ image_id: id }).count({ n: '*' }))[0]?.n), 4);
    });

    it('records a failure with whether a new attempt may cure it', async (t) => {
      const knex = await migrated(db, t);
      if (!knex) return;
      const id = (await claimImageConversion(knex, KEY, IMAGE)) as number;
      await failImage(knex, id, { error: 'droplet entry "../x" escapes the droplet', retryable: false });
      const image = await findImage(knex, KEY);
      assert.equal(image?.state, 'failed');
      assert.equal(image?.retryable, false);
      assert.match(image?.error ?? '', /escapes/);
    });
  });
}
