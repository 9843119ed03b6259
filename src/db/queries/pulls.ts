/**
 * Adds pulls counted in memory to `images` and `layers` (pull counts and last-pull times), in
 * one statement, so that serving a pull never waits for a database write.
 */
import type { Knex } from 'knex';

export interface PullCounts {
  /** Image id → manifest pulls since the last flush. */
  readonly images: ReadonlyMap<number, number>;
  /** Layer digest → blob downloads since the last flush. */
  readonly layers: ReadonlyMap<string, number>;
}

/**
 * Adds the counts and sets the last-pull times to the database's `now()` (a flush runs every
 * few seconds: close enough, and every instance then reads one clock). Rows removed meanwhile
 * are skipped.
 */
export async function addPulls(db: Knex | Knex.Transaction, counts: PullCounts): Promise<void> {
  const images = JSON.stringify([...counts.images].map(([id, pulls]) => ({ id, pulls })));
  const layers = JSON.stringify([...counts.layers].map(([digest, pulls]) => ({ digest, pulls })));
  // One round trip: both updates are data-modifying CTEs of one statement.
  await db.raw(
    `with image_pulls as (
       update images as i set pull_count = i.pull_count + p.pulls, last_pulled_at = now()
       from jsonb_to_recordset(?::jsonb) as p(id bigint, pulls bigint)
       where i.id = p.id
       returning i.id
     ), layer_pulls as (
       update layers as l set pull_count = l.pull_count + p.pulls, last_pulled_at = now()
       from jsonb_to_recordset(?::jsonb) as p(digest text, pulls bigint)
       where l.digest = p.digest
       returning l.digest
     )
     select (select count(*) from image_pulls) as images, (select count(*) from layer_pulls) as layers`,
    [images, layers],
  );
}
