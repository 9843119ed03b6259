/**
 * The pre-warmer's position in a Cloud Controller's audit events (`prewarm_cursors`), read at
 * the start of every round and written at its end, so whichever instance leads next resumes there.
 */
import type { Knex } from 'knex';

/** A row of `prewarm_cursors`. */
export interface DbPrewarmCursorRow {
  capi_url: string;
  resume_at: Date;
  /** jsonb: an array of event guids. */
  handled_guids: string[];
  updated_at: Date;
}

/** Where to resume: `created_ats[gte]=resumeAt`, skipping the events already handled. */
export interface PrewarmCursor {
  /** A whole second. */
  readonly resumeAt: Date;
  /** Guids of the events at or after `resumeAt` that were handled already. */
  readonly handledGuids: readonly string[];
}

/** The cursor for this Cloud Controller; `undefined` before the pre-warmer's first start against it. */
export async function loadPrewarmCursor(db: Knex, capiUrl: string): Promise<PrewarmCursor | undefined> {
  const row: Pick<DbPrewarmCursorRow, 'resume_at' | 'handled_guids'> | undefined = await db('prewarm_cursors')
    .where({ capi_url: capiUrl })
    .first('resume_at', 'handled_guids');
  return row && { resumeAt: row.resume_at, handledGuids: row.handled_guids };
}

/** Records the cursor (last writer wins: only the leader writes). */
export async function savePrewarmCursor(db: Knex, capiUrl: string, cursor: PrewarmCursor): Promise<void> {
  // jsonb: pg would send a JS array as a Postgres array literal, so it goes as JSON text.
  const values = { resume_at: cursor.resumeAt, handled_guids: JSON.stringify(cursor.handledGuids), updated_at: db.fn.now() };
  await db('prewarm_cursors')
    .insert({ capi_url: capiUrl, ...values })
    .onConflict('capi_url')
    .merge(values);
}
