// @ts-check
/**
 * A droplet is converted once; its images are assembled on whatever base is current.
 *
 * - `droplets`: the layers a droplet became (they depend only on the droplet), so a new stack,
 *   foundation or lifecycle gives a new image from them without downloading or converting again
 *   (a rebase). Backfilled from the ready images converted before, one layer each.
 * - `images` are keyed by droplet and base: `rootfs_digest` becomes `stack_digest` (the stack
 *   release's own tarball) and `foundation_digest` is what the foundation adds ('' when nothing).
 *   `droplet_layer_digest` goes: an image's droplet layers are in `image_blobs` and `droplets`.
 * - `layers.kind` and `imported_layers.kind` gain 'foundation'.
 */

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  await knex.schema.createTable('droplets', (table) => {
    table.comment('Layers each droplet was converted into; images of it on any base are assembled from them');
    table.text('droplet_guid').notNullable().primary({ constraintName: 'droplets_pkey' }).comment('CAPI droplet guid (or directory-source droplet id)');
    table.text('app_guid').notNullable().comment('App the droplet belongs to');
    table
      .jsonb('layers')
      .notNullable()
      .comment('Bottom to top: [{digest, diffId, size, uncompressedSize, mediaType, role, depsIndex?}]; every digest is a row of layers');
    table.text('start_command').nullable().comment("staging_info.yml's start_command; null when it had none (or the droplet was converted before this was kept)");
    table.timestamp('converted_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    table.index(['app_guid'], 'droplets_app_guid_idx');
  });
  await knex.raw(`
    insert into droplets (droplet_guid, app_guid, layers, start_command, converted_at)
    select distinct on (i.droplet_guid)
           i.droplet_guid, i.app_guid,
           jsonb_build_array(jsonb_build_object(
             'digest', l.digest, 'diffId', l.diff_id, 'size', b.size, 'uncompressedSize', l.uncompressed_size,
             'mediaType', b.media_type, 'role', 'app')),
           null, coalesce(i.converted_at, i.updated_at)
      from images i
      join layers l on l.digest = i.droplet_layer_digest
      join blobs b on b.digest = l.digest
     where i.state = 'ready'
     order by i.droplet_guid, i.converted_at desc nulls last`);

  await knex.schema.alterTable('images', (table) => {
    table.dropUnique(['droplet_guid', 'rootfs_digest', 'lifecycle_digest'], 'images_droplet_rootfs_lifecycle_key');
  });
  await knex.schema.alterTable('images', (table) => {
    table.renameColumn('rootfs_digest', 'stack_digest');
  });
  await knex.schema.alterTable('images', (table) => {
    table.text('foundation_digest').notNullable().defaultTo('').comment("Digest of the foundation layer (trusted CAs) the image is built on; '' for none");
    table.dropColumn('droplet_layer_digest');
    table.unique(['droplet_guid', 'stack_digest', 'foundation_digest', 'lifecycle_digest'], { indexName: 'images_droplet_base_key' });
  });
  await knex.raw(`comment on column images.stack_digest is 'Digest of the stack layer (the stack release''s own tarball) the image is built on'`);

  for (const [table, kinds] of /** @type {const} */ ([
    ['layers', `'rootfs', 'foundation', 'droplet', 'lifecycle'`],
    ['imported_layers', `'rootfs', 'foundation', 'lifecycle'`],
  ])) {
    await knex.raw(`alter table ${table} drop constraint ${table}_kind_check`);
    await knex.raw(`alter table ${table} add constraint ${table}_kind_check check (kind in (${kinds}))`);
  }
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.raw(`delete from imported_layers where kind = 'foundation'`);
  for (const [table, kinds] of /** @type {const} */ ([
    ['layers', `'rootfs', 'droplet', 'lifecycle'`],
    ['imported_layers', `'rootfs', 'lifecycle'`],
  ])) {
    await knex.raw(`alter table ${table} drop constraint ${table}_kind_check`);
    await knex.raw(`update ${table} set kind = 'rootfs' where kind = 'foundation'`);
    await knex.raw(`alter table ${table} add constraint ${table}_kind_check check (kind in (${kinds}))`);
  }
  // Images on a foundation layer cannot be told apart without it: they go, and are built again.
  await knex.raw(`delete from images where foundation_digest <> ''`);
  await knex.schema.alterTable('images', (table) => {
    table.dropUnique(['droplet_guid', 'stack_digest', 'foundation_digest', 'lifecycle_digest'], 'images_droplet_base_key');
    table.dropColumn('foundation_digest');
    table.text('droplet_layer_digest').nullable();
  });
  await knex.schema.alterTable('images', (table) => {
    table.renameColumn('stack_digest', 'rootfs_digest');
  });
  await knex.raw(`
    update images i set droplet_layer_digest = d.layers -> 0 ->> 'digest'
      from droplets d
     where d.droplet_guid = i.droplet_guid and jsonb_array_length(d.layers) = 1`);
  await knex.schema.alterTable('images', (table) => {
    table.unique(['droplet_guid', 'rootfs_digest', 'lifecycle_digest'], { indexName: 'images_droplet_rootfs_lifecycle_key' });
  });
  await knex.schema.dropTable('droplets');
}
