/**
 * The admin API's queries on `conversions`: attempts in flight and recent ones (failures with
 * their reason), with the droplet and app of their image.
 */
import type { Knex } from 'knex';
import type { ConversionState } from '../tables.ts';

type Db = Knex | Knex.Transaction;

export const CONVERSION_STATES: readonly ConversionState[] = ['running', 'succeeded', 'failed'];

/** One conversion attempt as the admin API shows it. */
export interface AdminConversionRow {
  readonly id: string;
  readonly imageId: number;
  readonly dropletGuid: string;
  readonly appGuid: string;
  readonly instance: string;
  readonly state: ConversionState;
  readonly error: string | null;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
  readonly bytesIn: number | null;
  readonly bytesOut: number | null;
}

export interface AdminConversionFilter {
  readonly state?: ConversionState | undefined;
  readonly dropletGuid?: string | undefined;
}

/** Conversion attempts, most recently started first, one page of them, with how many match in all. */
export async function listAdminConversions(db: Db, filter: AdminConversionFilter, page: { offset: number; limit: number }): Promise<{ total: number; rows: AdminConversionRow[] }> {
  const filtered = () => {
    const query = db('conversions as c').join('images as i', 'i.id', 'c.image_id');
    if (filter.state !== undefined) query.where('c.state', filter.state);
    if (filter.dropletGuid !== undefined) query.where('i.droplet_guid', filter.dropletGuid);
    return query;
  };
  const [{ n }] = (await filtered().count({ n: '*' })) as [{ n: number | string }];
  const rows = await filtered()
    .select('c.id', 'c.image_id', 'c.instance', 'c.state', 'c.error', 'c.started_at', 'c.finished_at', 'c.bytes_in', 'c.bytes_out', 'i.droplet_guid', 'i.app_guid')
    .orderBy([{ column: 'c.started_at', order: 'desc' }, { column: 'c.id' }])
    .offset(page.offset)
    .limit(page.limit);
  return {
    total: Number(n),
    rows: rows.map((row) => ({
      id: row.id as string,
      imageId: Number(row.image_id),
      dropletGuid: row.droplet_guid as string,
      appGuid: row.app_guid as string,
      instance: row.instance as string,
      state: row.state as ConversionState,
      error: (row.error as string | null) ?? null,
      startedAt: row.started_at as Date,
      finishedAt: (row.finished_at as Date | null) ?? null,
      bytesIn: row.bytes_in === null ? null : Number(row.bytes_in),
      bytesOut: row.bytes_out === null ? null : Number(row.bytes_out),
    })),
  };
}
