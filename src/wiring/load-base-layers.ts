/** The configured stacks' layers (stack tarball, foundation layer) and the lifecycle, imported once per file, with the import's progress logged. */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobstore/blob-store.ts';
import type { Config } from '../config/load-config.ts';
import { prepareBaseLayers, type BaseLayers, type ImportEvent } from '../images/base-layers.ts';
import { createProgressThrottle } from '../util/progress-throttle.ts';

/** A rootfs import logs its progress after each tenth read, or this long after its last line. */
const IMPORT_PROGRESS_INTERVAL_MS = 5_000;

export function loadBaseLayers(config: Config, db: Knex, blobs: BlobStore, logger: Logger): Promise<BaseLayers> {
  const throttles = new Map<string, (bytesRead: number) => boolean>();
  return prepareBaseLayers({
    db,
    blobs,
    stacks: config.stacks,
    stackFoundations: config.stackFoundations,
    lifecycleTarball: config.lifecycleTarball,
    compressionLevel: config.conversion.compressionLevel,
    onImport: (event) => logImport(logger, event),
    onImportProgress: ({ kind, name, path, bytesRead, totalBytes }) => {
      let due = throttles.get(path);
      if (!due) throttles.set(path, (due = createProgressThrottle(totalBytes, IMPORT_PROGRESS_INTERVAL_MS)));
      if (!due(bytesRead)) return;
      const percent = totalBytes > 0 ? Math.min(100, Math.floor((bytesRead / totalBytes) * 100)) : 100;
      logger.info({ event: 'import.progress', kind, name, path, bytesRead, totalBytes }, `importing ${kind} ${name}: ${percent}% of ${(totalBytes / 1e6).toFixed(1)} MB read`);
    },
  });
}

function logImport(logger: Logger, { kind, name, path, layer, changes }: ImportEvent): void {
  if (!layer) {
    const what = kind === 'foundation' ? `comparing the customized rootfs ${path} of stack ${name} with its stack tarball` : `importing ${kind} ${name} from ${path}`;
    logger.info({ event: 'import.start', kind, name, path }, what);
    return;
  }
  const fields = { event: 'import.done', kind, name, path, digest: layer.digest, diffId: layer.diffId, size: layer.size };
  if (kind === 'foundation' && changes) {
    logger.info(
      { ...fields, changed: changes.changed, removed: changes.removed },
      `imported foundation ${name}: ${changes.changed} paths added or changed, ${changes.removed} removed, relative to the stack tarball`,
    );
    return;
  }
  logger.info(fields, `imported ${kind} ${name}`);
}
