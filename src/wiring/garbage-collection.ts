/** Garbage collection as configured: on demand (`gc`, `POST /admin/gc`) and, on one instance, periodically. */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import type { Config } from '../config/load-config.ts';
import { baseLayerDigests, type BaseLayers } from '../images/base-layers.ts';
import { StorageBudget } from '../images/storage-budget.ts';
import type { DropletSource } from '../sources/droplet-source.ts';
import { GarbageCollector, type GarbageCollectorOptions } from '../workers/garbage-collector.ts';
import { GcWorker } from '../workers/gc-worker.ts';
import { LeaderElection } from '../workers/leader-election.ts';

/**
 * Garbage collection as configured: the running configuration's base layers are always kept; the
 * storage budget is the service's (`storageBudget`), else one of its own (the `gc` command).
 */
export function createGarbageCollector(
  config: Config,
  parts: {
    db: Knex;
    blobs: BlobStore;
    source: DropletSource;
    baseLayers: BaseLayers;
    logger: Logger;
    onImageRemoved?: GarbageCollectorOptions['onImageRemoved'];
    storageBudget?: GarbageCollectorOptions['storageBudget'];
  },
): GarbageCollector {
  const { baseLayers, storageBudget, ...rest } = parts;
  return new GarbageCollector({
    ...rest,
    storageBudget: storageBudget ?? new StorageBudget({ db: parts.db, budgetBytes: config.storage.budgetBytes, logger: parts.logger }),
    keepDigests: baseLayerDigests(baseLayers),
    imageRetentionDays: config.gc.imageRetentionDays,
    blobGraceMs: config.gc.blobGraceMs,
  });
}

export function createGcWorker(config: Config, db: Knex, collector: Pick<GarbageCollector, 'collect'>, logger: Logger): GcWorker {
  return new GcWorker({ collector, leadership: new LeaderElection({ db, name: `gc ${config.database.schema}`, logger }), intervalMs: config.gc.intervalMs, logger });
}
