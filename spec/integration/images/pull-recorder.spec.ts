/**
 * Pull counts are kept in memory and written in one statement: added up per image and per layer,
 * stamped with the database's time, and kept for the next flush when a write fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Knex } from 'knex';
import { pino } from 'pino';
import { migrateDatabase } from '../../../src/db/migrate-database.ts';
import { PullRecorder } from '../../../src/images/pull-recorder.ts';
import { eachDatabase } from '../../support/test-database.ts';

const LAYER = `sha256:${'a'.repeat(64)}`;
const CONFIG = `sha256:${'c'.repeat(64)}`;

async function seed(knex: Knex): Promise<number> {
  await knex('blobs').insert([
    { digest: LAYER, size: 10, media_type: 'application/vnd.oci.image.layer.v1.tar+gzip' },
    { digest: CONFIG, size: 2, media_type: 'application/vnd.oci.image.config.v1+json' },
  ]);
  await knex('layers').insert({ digest: LAYER, diff_id: LAYER, kind: 'droplet', uncompressed_size: 20 });
  const [row] = await knex('images')
    .insert({ droplet_guid: 'd', stack_digest: LAYER, lifecycle_digest: LAYER, app_guid: 'a', stack: 'cflinuxfs4', state: 'ready' })
    .returning('id');
  return Number(row.id);
}

for (const db of eachDatabase()) {
  describe(`pull recorder on ${db.name}`, () => {
    it('adds counted pulls to images and layers on flush, and keeps the counts of a failed flush', async (t) => {
      const database = await db.create(t);
      if (!database) return;
      t.after(() => database.cleanup());
      const { knex, schema } = database;
      const warnings: string[] = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(String(JSON.parse(line).event)) });
      const pulls = new PullRecorder({ db: knex, flushIntervalMs: 60_000, logger });

      // Not migrated yet: the write fails, nothing is lost.
      pulls.manifestPulled(1);
      pulls.blobPulled(LAYER);
      await pulls.flush();
      assert.deepEqual(warnings, ['pulls.flush_failed']);

      await migrateDatabase(knex, schema);
      const imageId = await seed(knex);
      assert.equal(imageId, 1);
      pulls.manifestPulled(imageId);
      pulls.blobPulled(LAYER);
      pulls.blobPulled(CONFIG); // not a layer: not counted anywhere
      pulls.manifestPulled(999); // removed meanwhile: skipped
      await pulls.stop();

      const image = await knex('images').where({ id: imageId }).first('pull_count', 'last_pulled_at');
      assert.equal(image.pull_count, 2);
      assert.ok(image.last_pulled_at instanceof Date);
      const layer = await knex('layers').where({ digest: LAYER }).first('pull_count', 'last_pulled_at');
      assert.equal(layer.pull_count, 2);
      assert.ok(layer.last_pulled_at instanceof Date);

      await pulls.flush();
      assert.equal((await knex('images').where({ id: imageId }).first('pull_count')).pull_count, 2, 'counts are written once');
    });
  });
}
