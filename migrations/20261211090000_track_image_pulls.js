// @ts-check
/**
 * Pull tracking and garbage collection: when each image was last pulled and how often (the
 * registry counts pulls in memory and adds them here every few seconds), and since when a blob
 * has been referenced by no image (garbage collection deletes it once that lasts the grace period).
 */

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  await knex.schema.alterTable('images', (table) => {
    table
      .timestamp('last_pulled_at', { useTz: true })
      .nullable()
      .comment('Last manifest pull (to within a few seconds); GC removes images not pulled within the retention');
    table.bigInteger('pull_count').notNullable().defaultTo(0).comment('Manifest pulls served');
  });
  await knex.schema.alterTable('blobs', (table) => {
    table
      .timestamp('unreferenced_since', { useTz: true })
      .nullable()
      .comment('When GC first found no image referencing the blob; null while referenced. Deleted after the grace period');
    table.index(['unreferenced_since'], 'blobs_unreferenced_since_idx', { predicate: knex.whereNotNull('unreferenced_since') });
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.alterTable('blobs', (table) => {
    table.dropIndex(['unreferenced_since'], 'blobs_unreferenced_since_idx');
    table.dropColumn('unreferenced_since');
  });
  await knex.schema.alterTable('images', (table) => {
    table.dropColumn('pull_count');
    table.dropColumn('last_pulled_at');
  });
}
