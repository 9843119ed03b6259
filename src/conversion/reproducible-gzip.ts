/**
 * gzip with every setting pinned, so the same layer tar always compresses to the same bytes and
 * therefore the same digest on every run and every instance. Node writes the gzip header with
 * mtime 0 and no file name, so the header carries nothing of the moment or the machine.
 */
import { constants, createGzip, type Gzip } from 'node:zlib';

/**
 * A gzip stream at `level` 1–9. Level 0 is refused: zlib's stored blocks are cut where the input
 * chunks happen to end, so its output depends on timing, not only on content.
 */
export function createReproducibleGzip(level: number): Gzip {
  if (!Number.isInteger(level) || level < 1 || level > 9) {
    throw new RangeError(`gzip level must be an integer from 1 to 9, not ${level}`);
  }
  return createGzip({
    level,
    memLevel: 8,
    windowBits: 15,
    strategy: constants.Z_DEFAULT_STRATEGY,
  });
}
