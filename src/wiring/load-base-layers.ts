/** The configured stacks' rootfs layers and the lifecycle, imported once per file, with the import's progress logged. */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import type { Config } from '../config/load-config.ts';
import { prepareBaseLayers, type BaseLayers } from '../images/base-layers.ts';
import { createProgressThrottle } from '../util/progress-throttle.ts';

/** A rootfs import logs its progress after each tenth read, or this long after its last line. */
const IMPORT_PROGRESS_INTERVAL_MS = 5_000;

export function loadBaseLayers(config: Config, db: Knex, blobs: BlobStore, logger: Logger): Promise<BaseLayers> {
  const throttles = new Map<string, (bytesRead: number) => boolean>();
  return prepareBaseLayers({
    db,
    blobs,
    stacks: config.stacks,
    lifecycleTarball: config.lifecycleTarball,
    compressionLevel: config.conversion.compressionLevel,
    onImport: ({ kind, name, path, layer }) =>
      layer
        ? logger.info({ event: 'import.done', kind, name, path, digest: layer.digest, diffId: layer.diffId, size: layer.size }, `imported ${kind} ${name}`)
        : logger.info({ event: 'import.start', kind, name, path }, `importing ${kind} ${name} from ${path}`),
    onImportProgress: ({ kind, name, path, bytesRead, totalBytes }) => {
      let due = throttles.get(path);
      if (!due) throttles.set(path, (due = createProgressThrottle(totalBytes, IMPORT_PROGRESS_INTERVAL_MS)));
      if (!due(bytesRead)) return;
      const percent = totalBytes > 0 ? Math.min(100, Math.floor((bytesRead / totalBytes) * 100)) : 100;
      logger.info({ event: 'import.progress', kind, name, path, bytesRead, totalBytes }, `importing ${kind} ${name}: ${percent}% of ${(totalBytes / 1e6).toFixed(1)} MB read`);
    },
  });
}
