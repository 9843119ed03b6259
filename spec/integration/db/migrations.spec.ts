import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { describe, it, type TestContext } from 'node:test';
import type { Knex } from 'knex';
import { createDatabase } from '../../../src/db/create-database.ts';
import { MIGRATIONS_DIRECTORY, migrateDatabase, rollbackDatabase } from '../../../src/db/migrate-database.ts';
import type { DbBlobRow, DbImageRow } from '../../../src/db/tables.ts';
import { eachDatabase, type DatabaseVariant, type TestDatabase } from '../../support/test-database.ts';

/** Every table after migrating, in name order: the registry's and knex's bookkeeping. */
const MIGRATED_TABLES = [
  'blobs',
  'conversions',
  'image_blobs',
  'images',
  'imported_layers',
  'knex_migrations',
  'knex_migrations_lock',
  'layers',
  'prewarm_cursors',
];
const DIGEST = `sha256:${'ab'.repeat(32)}`;

async function tablesIn(knex: Knex, schema: string): Promise<string[]> {
  const rows: Array<{ table_name: string }> = await knex('information_schema.tables')
    .where({ table_schema: schema })
    .select('table_name')
    .orderBy('table_name');
  return rows.map((row) => row.table_name);
}

async function open(db: DatabaseVariant, t: TestContext): Promise<TestDatabase | null> {
  const database = await db.create(t);
  if (database) t.after(() => database.cleanup());
  return database;
}

for (const db of eachDatabase()) {
  describe(`migrations on ${db.name}`, () => {
    it('creates the registry tables in the configured schema, not in public', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      await migrateDatabase(database.knex, database.schema);

      assert.deepEqual(await tablesIn(database.knex, database.schema), MIGRATED_TABLES);
      assert.deepEqual(await tablesIn(database.knex, 'public'), []);
    });

    it('rolls back to nothing and migrates up again', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      const { knex, schema } = database;
      await migrateDatabase(knex, schema);
      await rollbackDatabase(knex, schema);
      assert.deepEqual(await tablesIn(knex, schema), ['knex_migrations', 'knex_migrations_lock']);

      await migrateDatabase(knex, schema);
      await knex('blobs').insert({ digest: DIGEST, size: 1, media_type: 'application/octet-stream' });
      assert.equal((await knex('blobs').count({ n: '*' }).first())?.n, 1);
    });

    it('is a no-op when run again', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      await migrateDatabase(database.knex, database.schema);
      await database.knex('blobs').insert({ digest: DIGEST, size: 1, media_type: 'application/octet-stream' });
      await migrateDatabase(database.knex, database.schema);
      assert.equal((await database.knex('blobs').count({ n: '*' }).first())?.n, 1);
    });

    it('returns int8 as numbers, bytea as Buffers and timestamps as Dates', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      const { knex } = database;
      await migrateDatabase(knex, database.schema);
      const size = 5 * 2 ** 32 + 7; // past int4, well within a double
      const manifest = Buffer.from('{"schemaVersion":2}\n\u0000\u00ff', 'latin1');
      await knex('blobs').insert({ digest: DIGEST, size, media_type: 'application/vnd.oci.image.manifest.v1+json' });
      const [inserted] = await knex('images')
        .insert({
          droplet_guid: 'droplet',
          rootfs_digest: DIGEST,
          lifecycle_digest: DIGEST,
          app_guid: 'app',
          stack: 'cflinuxfs4',
          state: 'ready',
          manifest_digest: DIGEST,
          manifest,
        })
        .returning('id');

      const blob: DbBlobRow = await knex('blobs').where({ digest: DIGEST }).first();
      assert.equal(blob.size, size);
      assert.ok(blob.created_at instanceof Date);
      const image: DbImageRow = await knex('images').where({ id: inserted.id }).first();
      assert.equal(typeof image.id, 'number');
      assert.ok(Buffer.isBuffer(image.manifest), `manifest is a ${image.manifest?.constructor.name}`);
      assert.deepEqual(image.manifest, manifest);
      assert.equal(image.attempts, 0);
      assert.equal(image.retryable, true);
      assert.equal(image.converted_at, null);
      assert.equal((await knex('images').count({ n: '*' }).first())?.n, 1);
    });

    it('refuses an int8 a JavaScript number cannot hold instead of rounding it', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      await assert.rejects(database.knex.raw('select 9007199254740993::int8 as n'), RangeError);
      assert.deepEqual((await database.knex.raw('select 1::int8 as n')).rows, [{ n: 1 }]);
    });

    if (db.name === 'postgres') {
      it('migrates once when several instances start together', async (t) => {
        const database = await open(db, t);
        if (!database) return;
        const instances = await Promise.all(
          [1, 2, 3].map(() => createDatabase({ url: database.url, schema: database.schema, dataDir: tmpdir() })),
        );
        t.after(() => Promise.all(instances.map((knex) => knex.destroy())));

        await Promise.all(instances.map((knex) => migrateDatabase(knex, database.schema)));

        const migrations = (await readdir(MIGRATIONS_DIRECTORY)).filter((file) => file.endsWith('.js'));
        const applied: Array<{ name: string; batch: number }> = await database
          .knex('knex_migrations')
          .select('name', 'batch')
          .orderBy('id');
        assert.deepEqual(applied, migrations.sort().map((name) => ({ name, batch: 1 })));
        assert.deepEqual(await tablesIn(database.knex, database.schema), MIGRATED_TABLES);
      });
    }
  });
}
