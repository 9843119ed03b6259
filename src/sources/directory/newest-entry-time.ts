/**
 * When a droplet's content last changed, as the droplet itself says: the newest mtime among the
 * entries of its `.tgz`. The directory source uses it as the droplet's `created_at` when no
 * sidecar gives one, so an image depends on the droplet's bytes, not on when the file was copied
 * (the same droplet on two machines gives the same digests).
 *
 * Only headers are looked at; bodies are skipped as they stream by (gunzip still has to inflate
 * them). At most `maxEntries` entries are read: past that the newest mtime seen so far is
 * returned, which still depends only on the bytes.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';

export interface NewestEntryTime {
  /** The newest entry mtime read; `null` when the tar has no entry with one. */
  readonly newest: Date | null;
  /** False when reading stopped at `maxEntries` before the end of the tar. */
  readonly complete: boolean;
}

/**
 * Rejects as the file (ENOENT, EACCES: errors with a `syscall`), gunzip or tar-stream do when
 * the file cannot be read or is not a gzipped tar.
 */
export async function newestEntryTime(path: string, maxEntries: number): Promise<NewestEntryTime> {
  const extract = tar.extract();
  const piping = pipeline(createReadStream(path), createGunzip(), extract);
  // A failure also ends the iteration below with the same error; stopping early rejects this one (premature close).
  piping.catch(() => {});
  let newestMs = Number.NEGATIVE_INFINITY;
  let entries = 0;
  for await (const entry of extract) {
    if (entries === maxEntries) return { newest: dateOrNull(newestMs), complete: false };
    entries += 1;
    const mtimeMs = entry.header.mtime?.getTime() ?? Number.NaN;
    if (mtimeMs > newestMs) newestMs = mtimeMs;
    entry.resume();
  }
  await piping;
  return { newest: dateOrNull(newestMs), complete: true };
}

function dateOrNull(ms: number): Date | null {
  return Number.isFinite(ms) ? new Date(ms) : null;
}
