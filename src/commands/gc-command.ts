/**
 * `droplet-registry gc`: one garbage collection from the command line, with the service's
 * configuration (a cron job, or a look at what would go before turning the periodic worker on).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/load-config.ts';
import { createGarbageCollector } from '../wiring/garbage-collection.ts';
import { loadBaseLayers } from '../wiring/load-base-layers.ts';
import { openBlobStore } from '../wiring/open-blob-store.ts';
import { openDatabase } from '../wiring/open-database.ts';
import { openDropletSource } from '../wiring/open-droplet-source.ts';
import type { GcReport } from '../workers/gc-report.ts';

/** Runs one collection and returns its report; the database is closed afterwards whatever happens. */
export async function gcCommand(config: Config, options: { dryRun: boolean }, logger: Logger): Promise<GcReport> {
  const db = await openDatabase(config, logger);
  try {
    const blobs = openBlobStore(config);
    const baseLayers = await loadBaseLayers(config, db, blobs, logger);
    const { source } = openDropletSource(config, logger);
    return await createGarbageCollector(config, { db, blobs, source, baseLayers, logger }).collect(options);
  } finally {
    await db.destroy();
  }
}

/** The report as a person reads it: what was (or would be) removed, and what waits. */
export function formatGcReport(report: GcReport): string {
  const verb = report.dryRun ? 'to remove' : 'removed';
  const lines = [
    `garbage collection${report.dryRun ? ' (dry run: nothing was removed)' : ''}, ${report.durationMs} ms`,
    `images ${verb}: ${report.imagesRemoved.length}`,
    ...report.imagesRemoved.map((image) => `  droplet ${image.dropletGuid}  app ${image.appGuid}  ${image.state}  ${image.reason}`),
    `blobs ${verb}: ${report.blobsRemoved.length} (${formatBytes(report.bytesFreed)})`,
    ...report.blobsRemoved.map((blob) => `  ${blob.digest}  ${formatBytes(blob.size)}`),
    `blobs found unreferenced for the first time: ${report.blobsMarked}`,
    `blobs unreferenced, within the grace period: ${report.blobsPending}`,
  ];
  if (report.blobsDeferred > 0) lines.push(`blobs left for the next run (a conversion was in flight): ${report.blobsDeferred}`);
  if (report.lookupFailures > 0) lines.push(`droplets that could not be looked up (their images were kept): ${report.lookupFailures}`);
  if (report.storage) {
    const { usedBytes, budgetBytes, overBudget, targetBytes, blobsRemovedEarly } = report.storage;
    lines.push(`storage: ${formatBytes(usedBytes)} used of a ${formatBytes(budgetBytes)} budget${overBudget ? `: over it, freeing down to ${formatBytes(targetBytes)}` : ''}`);
    if (overBudget) {
      const evicted = report.imagesRemoved.filter((image) => image.reason === 'over-budget').length;
      lines.push(`  images evicted (least recently pulled first): ${evicted}; blobs ${verb} before their grace period: ${blobsRemovedEarly}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
