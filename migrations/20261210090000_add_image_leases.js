// @ts-check
/**
 * Conversion leases: the instance converting an image renews `lease_expires_at` while it works;
 * when that instance dies the lease runs out and another instance takes the conversion over.
 */

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  await knex.schema.alterTable('images', (table) => {
    table
      .timestamp('lease_expires_at', { useTz: true })
      .nullable()
      .comment('While converting: until when the converting instance holds the image; renewed by its heartbeat, cleared when the conversion ends');
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.alterTable('images', (table) => {
    table.dropColumn('lease_expires_at');
  });
}
