// @ts-check
/**
 * Where the pre-warmer is in Cloud Controller's audit events, so a restart (or a new leader)
 * resumes there: missing nothing, repeating nothing.
 */

/** @param {import('knex').Knex} knex */
export async function up(knex) {
  /** Table: prewarm_cursors — one row per Cloud Controller the pre-warmer follows. */
  await knex.schema.createTable('prewarm_cursors', (table) => {
    // No apostrophes in comments: knex does not escape them.
    table.comment('Where the pre-warmer is in the audit events of a Cloud Controller');
    table
      .text('capi_url')
      .notNullable()
      .primary({ constraintName: 'prewarm_cursors_pkey' })
      .comment('The Cloud Controller followed; another one (CAPI_URL changed) starts afresh');
    table
      .timestamp('resume_at', { useTz: true })
      .notNullable()
      .comment('Whole second the next query starts at (created_ats[gte]): the newest event handled, or the oldest not handled yet');
    table
      .jsonb('handled_guids')
      .notNullable()
      .defaultTo('[]')
      .comment('Guids of the events at or after resume_at already handled, skipped when [gte] returns them again');
    table.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

/** @param {import('knex').Knex} knex */
export async function down(knex) {
  await knex.schema.dropTable('prewarm_cursors');
}
