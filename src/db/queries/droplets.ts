/**
 * Queries on `droplets`: the layers each droplet was converted into, from which its images on any
 * base are assembled (a rebase) without downloading or converting the droplet again.
 */
import type { Knex } from 'knex';
import type { DropletLayer } from '../../conversion/droplet-layer.ts';

type Db = Knex | Knex.Transaction;

/** A converted droplet, as recorded. */
export interface StoredDroplet {
  readonly dropletGuid: string;
  readonly appGuid: string;
  /** Bottom → top. */
  readonly layers: readonly DropletLayer[];
  /** staging_info.yml's start_command; null when it had none or was not kept. */
  readonly startCommand: string | null;
}

export async function findDroplet(db: Db, dropletGuid: string): Promise<StoredDroplet | undefined> {
  const row = await db('droplets').where({ droplet_guid: dropletGuid }).first('droplet_guid', 'app_guid', 'layers', 'start_command');
  if (!row) return undefined;
  return {
    dropletGuid: row.droplet_guid as string,
    appGuid: row.app_guid as string,
    layers: (typeof row.layers === 'string' ? JSON.parse(row.layers) : row.layers) as DropletLayer[],
    startCommand: (row.start_command as string | null) ?? null,
  };
}

/** Records (or replaces: a droplet converted again after a lost blob) what a droplet was converted into. */
export async function recordDroplet(db: Db, droplet: StoredDroplet): Promise<void> {
  const layers = droplet.layers.map(({ digest, diffId, size, uncompressedSize, mediaType, role, depsIndex }) => ({
    digest,
    diffId,
    size,
    uncompressedSize,
    mediaType,
    role,
    ...(depsIndex === undefined ? {} : { depsIndex }),
  }));
  await db('droplets')
    .insert({ droplet_guid: droplet.dropletGuid, app_guid: droplet.appGuid, layers: JSON.stringify(layers), start_command: droplet.startCommand })
    .onConflict('droplet_guid')
    .merge({ layers: JSON.stringify(layers), start_command: droplet.startCommand, converted_at: db.fn.now() });
}

/** Forgets what a droplet was converted into, so its next image converts it anew (an operator's forced conversion). */
export async function forgetDroplet(db: Db, dropletGuid: string): Promise<void> {
  await db('droplets').where({ droplet_guid: dropletGuid }).delete();
}
