/**
 * Garbage collection's queries on `images`: which images are stale (not pulled within the
 * retention, failed or abandoned long ago), which droplets to check in the droplet source, which
 * images to evict first when the storage budget is exceeded (least recently pulled), and
 * removing an image only while the reason still holds; the `droplets` rows left without an image.
 * Ages are measured with the database's clock, never this process's (instances' clocks may differ).
 */
import type { Knex } from 'knex';

type Db = Knex | Knex.Transaction;

/** An image as garbage collection sees it. */
export interface GcImage {
  readonly id: number;
  readonly dropletGuid: string;
  readonly appGuid: string;
  readonly state: 'converting' | 'ready' | 'failed';
  readonly manifestDigest: string | null;
}

/** Why an image is stale by age; droplet-based reasons are decided by the caller. */
export type StaleReason = 'not-pulled' | 'failed' | 'abandoned';

const COLUMNS = ['id', 'droplet_guid', 'app_guid', 'state', 'manifest_digest'];

function toGcImage(row: Record<string, unknown>): GcImage {
  return {
    id: Number(row.id),
    dropletGuid: row.droplet_guid as string,
    appGuid: row.app_guid as string,
    state: row.state as GcImage['state'],
    manifestDigest: (row.manifest_digest as string | null) ?? null,
  };
}

/** The SQL condition "stale for `reason`" on `images` (one binding: the retention in days). */
function staleCondition(reason: StaleReason): string {
  const cutoff = `now() - ? * interval '1 day'`;
  if (reason === 'not-pulled') return `state = 'ready' and coalesce(last_pulled_at, converted_at, created_at) < ${cutoff}`;
  if (reason === 'failed') return `state = 'failed' and updated_at < ${cutoff}`;
  // A lease that ran out long ago: its instance died and nobody asked for the image since.
  return `state = 'converting' and coalesce(lease_expires_at, updated_at) < ${cutoff}`;
}

/** A conversion whose lease has not run out: its instance is (presumably) at work, so the image is never collected. */
const LEASE_HELD = `state = 'converting' and coalesce(lease_expires_at > now(), false)`;

/** Images stale by age, with their reason (oldest first). */
export async function listStaleImages(db: Db, retentionDays: number): Promise<Array<GcImage & { reason: StaleReason }>> {
  const found: Array<GcImage & { reason: StaleReason }> = [];
  for (const reason of ['not-pulled', 'failed', 'abandoned'] as const) {
    const rows = await db('images').whereRaw(staleCondition(reason), [retentionDays]).orderBy('id').select(COLUMNS);
    found.push(...rows.map((row: Record<string, unknown>) => ({ ...toGcImage(row), reason })));
  }
  return found.sort((a, b) => a.id - b.id);
}

/** Every image that may be collected (all but those under a held conversion lease), to check their droplets. */
export async function listCollectableImages(db: Db): Promise<GcImage[]> {
  const rows = await db('images').whereNot((q) => q.whereRaw(LEASE_HELD)).orderBy('id').select(COLUMNS);
  return rows.map(toGcImage);
}

/**
 * Removes the image (its blob references and conversion records go with it) unless a conversion
 * holds its lease now or, for an age-based reason, it is no longer stale (pulled meanwhile).
 * True when it was removed.
 */
export async function removeImage(db: Db, imageId: number, staleness: { reason: StaleReason; retentionDays: number } | null): Promise<boolean> {
  const query = db('images')
    .where({ id: imageId })
    .whereNot((q) => q.whereRaw(LEASE_HELD));
  if (staleness) query.whereRaw(staleCondition(staleness.reason), [staleness.retentionDays]);
  const removed = await query.delete(['id']);
  return removed.length > 0;
}

/** When a ready image was last used: its last pull, else its conversion. */
const LAST_USED = 'coalesce(last_pulled_at, converted_at, created_at)';

/** A ready image eviction may remove, with when it was last used (as the database's text, compared exactly on removal). */
export interface EvictableImage extends GcImage {
  readonly lastUsed: string;
}

/** Ready images, least recently pulled first (then oldest first): the order the storage budget evicts them in. */
export async function listEvictableImages(db: Db): Promise<EvictableImage[]> {
  const rows = await db('images')
    .where({ state: 'ready' })
    .orderByRaw(`${LAST_USED} asc, id asc`)
    .select([...COLUMNS, db.raw(`${LAST_USED}::text as last_used`)]);
  return rows.map((row: Record<string, unknown>) => ({ ...toGcImage(row), lastUsed: row.last_used as string }));
}

/**
 * Removes an image evicted for the storage budget unless it has been used since it was chosen
 * (pulled, or converted again) or a conversion holds its lease now. True when it was removed.
 */
export async function removeEvictedImage(db: Db, image: EvictableImage): Promise<boolean> {
  const removed = await db('images')
    .where({ id: image.id, state: 'ready' })
    .whereNot((q) => q.whereRaw(LEASE_HELD))
    .whereRaw(`${LAST_USED} <= ?::timestamptz`, [image.lastUsed])
    .delete(['id']);
  return removed.length > 0;
}

/** Removes the `droplets` rows no image of their droplet is left to use (run after removing images). Returns how many. */
export async function removeDropletsWithoutImages(db: Db): Promise<number> {
  const removed = await db.raw('delete from droplets d where not exists (select 1 from images i where i.droplet_guid = d.droplet_guid) returning d.droplet_guid');
  return (removed.rows as unknown[]).length;
}
