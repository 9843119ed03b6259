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
  'droplets',
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
          stack_digest: DIGEST,
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

    it('keeps what a droplet was converted into when images become keyed by their base, so the next base rebases instead of converting', async (t) => {
      const database = await open(db, t);
      if (!database) return;
      const { knex, schema } = database;
      await knex.raw('create schema if not exists ??', [schema]);
      const before = (await readdir(MIGRATIONS_DIRECTORY)).filter((file) => file.endsWith('.js')).sort();
      const target = before.indexOf('20261215090000_droplets_and_stack_bases.js');
      assert.ok(target > 0);
      const config = { directory: MIGRATIONS_DIRECTORY, schemaName: schema, tableName: 'knex_migrations', loadExtensions: ['.js'] };
      for (let step = 0; step < target; step += 1) await knex.migrate.up(config);
      const digest = (c: string) => `sha256:${c.repeat(64)}`;
      for (const c of ['a', 'b', 'c', 'd']) await knex('blobs').insert({ digest: digest(c), size: 10 + c.charCodeAt(0), media_type: 'application/vnd.oci.image.layer.v1.tar+gzip' });
      await knex('layers').insert({ digest: digest('d'), diff_id: digest('e'), kind: 'droplet', uncompressed_size: 4096 });
      const old = { droplet_guid: 'droplet', rootfs_digest: digest('a'), lifecycle_digest: digest('b'), app_guid: 'app', stack: 'cflinuxfs4', manifest_digest: digest('f'), manifest: Buffer.from('{}') };
      await knex('images').insert({ ...old, state: 'ready', config_digest: digest('c'), droplet_layer_digest: digest('d'), converted_at: new Date('2026-11-01T00:00:00Z') });
      await knex('images').insert({ ...old, droplet_guid: 'failed-droplet', manifest_digest: null, manifest: null, state: 'failed' });

      await migrateDatabase(knex, schema);

      const droplets = await knex('droplets').select('droplet_guid', 'app_guid', 'layers', 'start_command');
      assert.deepEqual(droplets, [
        {
          droplet_guid: 'droplet',
          app_guid: 'app',
          layers: [{ digest: digest('d'), diffId: digest('e'), size: 10 + 'd'.charCodeAt(0), uncompressedSize: 4096, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', role: 'app' }],
          start_command: null,
        },
      ]);
      const image = await knex('images').where({ droplet_guid: 'droplet' }).first('stack_digest', 'foundation_digest', 'lifecycle_digest', 'manifest_digest');
      assert.deepEqual(image, { stack_digest: digest('a'), foundation_digest: '', lifecycle_digest: digest('b'), manifest_digest: digest('f') });
      await assert.rejects(knex('layers').insert({ digest: digest('c'), diff_id: digest('c'), kind: 'stack', uncompressed_size: 1 }), /layers_kind_check/);
      await knex('layers').insert({ digest: digest('c'), diff_id: digest('c'), kind: 'foundation', uncompressed_size: 1 });
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
