// @ts-check
/**
 * The registry's tables. They are created unqualified, in the schema the connection's
 * `search_path` names (`DATABASE_SCHEMA`, created by `migrateDatabase` before this runs).
 */

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  /** Table: blobs — every committed blob in the blobstore that the registry knows of. */
  await knex.schema.createTable('blobs', (table) => {
    table.comment('Content-addressed blobs committed to the blobstore (layers, configs)');
    table.text('digest').notNullable().primary({ constraintName: 'blobs_pkey' }).comment('sha256:<hex>; the blobstore key is blobs/sha256/<hex>');
    table.bigInteger('size').notNullable().comment('Size in bytes, as served');
    table.text('media_type').notNullable().comment('OCI media type the blob is referenced with');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });

  /** Table: layers — blobs that are image layers, with what the config and GC need. */
  await knex.schema.createTable('layers', (table) => {
    table.comment('Layer blobs (tar+gzip) with their uncompressed identity and usage');
    table
      .text('digest')
      .notNullable()
      .primary({ constraintName: 'layers_pkey' })
      .references('digest')
      .inTable('blobs')
      .withKeyName('layers_digest_fkey')
      .comment('Digest of the compressed layer blob');
    table.text('diff_id').notNullable().comment('sha256 of the uncompressed tar, for rootfs.diff_ids');
    table
      .text('kind')
      .notNullable()
      .checkIn(['rootfs', 'droplet', 'lifecycle'], 'layers_kind_check')
      .comment('Which part of an image the layer is');
    table.bigInteger('uncompressed_size').notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('last_pulled_at', { useTz: true }).nullable().comment('Last blob download; GC keeps recently pulled layers');
    table.bigInteger('pull_count').notNullable().defaultTo(0);
  });

  /** Table: imported_layers — rootfs/lifecycle files already turned into layers. */
  await knex.schema.createTable('imported_layers', (table) => {
    table.comment('Rootfs and lifecycle files already imported, so start-up does not re-hash an unchanged file');
    table.bigIncrements('id', { primaryKey: false });
    table.primary(['id'], { constraintName: 'imported_layers_pkey' });
    table.text('kind').notNullable().checkIn(['rootfs', 'lifecycle'], 'imported_layers_kind_check');
    table.text('name').notNullable().comment("Stack name for a rootfs, 'lifecycle' for the lifecycle");
    table.text('path').notNullable().comment('File the layer was imported from');
    table.bigInteger('file_size').notNullable().comment('File size at import; a change means re-import');
    table.bigInteger('file_mtime_ms').notNullable().comment('File mtime (ms since epoch) at import; a change means re-import');
    table
      .text('layer_digest')
      .notNullable()
      .references('digest')
      .inTable('layers')
      .withKeyName('imported_layers_layer_digest_fkey')
      .comment('The layer this file became');
    table.timestamp('imported_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.unique(['kind', 'name', 'path', 'file_size', 'file_mtime_ms'], { indexName: 'imported_layers_file_key' });
    table.index(['layer_digest'], 'imported_layers_layer_digest_idx');
  });

  /** Table: images — one per (droplet, rootfs, lifecycle), converting, ready or failed. */
  await knex.schema.createTable('images', (table) => {
    table.comment('Images built from a droplet with a given rootfs and lifecycle; the manifest bytes are served as stored');
    table.bigIncrements('id', { primaryKey: false });
    table.primary(['id'], { constraintName: 'images_pkey' });
    table.text('droplet_guid').notNullable().comment('CAPI droplet guid (or directory-source droplet id)');
    table.text('rootfs_digest').notNullable().comment('Digest of the rootfs layer the image is built on');
    table.text('lifecycle_digest').notNullable().comment('Digest of the lifecycle layer');
    table.text('app_guid').notNullable().comment('App the droplet belongs to; blob access is checked through it');
    table.text('stack').notNullable();
    table
      .text('state')
      .notNullable()
      .checkIn(['converting', 'ready', 'failed'], 'images_state_check')
      .comment('converting → ready | failed');
    table.text('manifest_digest').nullable().comment('Set when ready');
    table.binary('manifest').nullable().comment('The exact manifest bytes served by tag and by digest');
    table.text('config_digest').nullable();
    table.text('droplet_layer_digest').nullable();
    table.text('error').nullable().comment('Why the last conversion failed');
    table
      .boolean('retryable')
      .notNullable()
      .defaultTo(true)
      .comment('False when the droplet itself cannot become an image, so converting again would fail the same way');
    table.integer('attempts').notNullable().defaultTo(0).comment('Conversions started for this image');
    table.text('instance').nullable().comment('Registry instance converting (or that converted) the image');
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('converted_at', { useTz: true }).nullable();
    table.integer('conversion_ms').nullable().comment('Duration of the successful conversion');
    table.unique(['droplet_guid', 'rootfs_digest', 'lifecycle_digest'], { indexName: 'images_droplet_rootfs_lifecycle_key' });
    table.unique(['manifest_digest'], {
      indexName: 'images_manifest_digest_key',
      predicate: knex.whereNotNull('manifest_digest'),
    });
    table.index(['app_guid'], 'images_app_guid_idx');
  });

  /** Table: image_blobs — which blobs make up an image (layers and config). */
  await knex.schema.createTable('image_blobs', (table) => {
    table.comment('Blobs referenced by an image; answers "may this repository serve this blob"');
    table
      .bigInteger('image_id')
      .notNullable()
      .references('id')
      .inTable('images')
      .onDelete('CASCADE')
      .withKeyName('image_blobs_image_id_fkey');
    table
      .text('digest')
      .notNullable()
      .references('digest')
      .inTable('blobs')
      .withKeyName('image_blobs_digest_fkey');
    table.integer('position').notNullable().comment('Order in the manifest: layers 0…n-1, the config last');
    table.primary(['image_id', 'digest'], { constraintName: 'image_blobs_pkey' });
    table.index(['digest'], 'image_blobs_digest_idx');
  });

  /** Table: conversions — one row per conversion attempt, for admin views and metrics. */
  await knex.schema.createTable('conversions', (table) => {
    table.comment('Conversion attempts: who ran them, how they ended, how many bytes');
    table.uuid('id').notNullable().primary({ constraintName: 'conversions_pkey' }).defaultTo(knex.fn.uuid());
    table
      .bigInteger('image_id')
      .notNullable()
      .references('id')
      .inTable('images')
      .onDelete('CASCADE')
      .withKeyName('conversions_image_id_fkey');
    table.text('instance').notNullable().comment('Registry instance running the conversion');
    table.text('state').notNullable().checkIn(['running', 'succeeded', 'failed'], 'conversions_state_check');
    table.text('error').nullable();
    table.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.bigInteger('bytes_in').nullable().comment('Compressed droplet bytes read');
    table.bigInteger('bytes_out').nullable().comment('Compressed layer bytes written');
    table.index(['state'], 'conversions_state_idx');
    table.index(['image_id'], 'conversions_image_id_idx');
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTable('conversions');
  await knex.schema.dropTable('image_blobs');
  await knex.schema.dropTable('images');
  await knex.schema.dropTable('imported_layers');
  await knex.schema.dropTable('layers');
  await knex.schema.dropTable('blobs');
}
