/**
 * Image rows under concurrency: attempts on two instances must never undo each other's success.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { migrateDatabase } from '../../../src/db/migrate-database.ts';
import { completeImage, failImage, findImage, startImageConversion, type ImageKey } from '../../../src/db/queries/images.ts';
import { recordBlob } from '../../../src/db/queries/layers.ts';
import { eachDatabase, type DatabaseVariant } from '../../support/test-database.ts';

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const KEY: ImageKey = { dropletGuid: 'droplet-1', rootfsDigest: digest('a'), lifecycleDigest: digest('b') };
const IMAGE = { appGuid: 'app-1', stack: 'cflinuxfs4', instance: 'instance-a' };

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
    dropletLayerDigest: digest('d'),
    blobDigests: [digest('c'), digest('a'), digest('d'), digest('b')],
    conversionMs: 1,
  });
}

for (const db of eachDatabase()) {
  describe(`image rows on ${db.name}`, () => {
    it('counts attempts and does not restart a ready image', async (t) => {
      const knex = await migrated(db, t);
      if (!knex) return;
      const id = await startImageConversion(knex, KEY, IMAGE);
      assert.equal(typeof id, 'number');
      assert.equal(await startImageConversion(knex, KEY, { ...IMAGE, instance: 'instance-b' }), id, 'a second attempt reuses the row');
      await complete(knex, id as number);
      assert.equal(await startImageConversion(knex, KEY, IMAGE), null, 'ready: nothing to start');
      const image = await findImage(knex, KEY);
      assert.equal(image?.state, 'ready');
      assert.equal(Number((await knex('images').where({ id }).first('attempts')).attempts), 2);
    });

    it('keeps a ready image ready when a late attempt fails, and completes twice without conflict', async (t) => {
      const knex = await migrated(db, t);
      if (!knex) return;
      const id = (await startImageConversion(knex, KEY, IMAGE)) as number;
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
      const id = (await startImageConversion(knex, KEY, IMAGE)) as number;
      await failImage(knex, id, { error: 'droplet entry "../x" escapes the droplet', retryable: false });
      const image = await findImage(knex, KEY);
      assert.equal(image?.state, 'failed');
      assert.equal(image?.retryable, false);
      assert.match(image?.error ?? '', /escapes/);
    });
  });
}
