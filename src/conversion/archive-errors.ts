/**
 * Turns the low-level failures of reading a `.tgz` (zlib error codes, tar parse errors) into the
 * words a user can act on. Callers put their input's name in front: "droplet is truncated …".
 */
import { TarParseError } from './rewrite-tar.ts';

/**
 * What is wrong with the archive, as a predicate (`is not a gzip file`), or `undefined` when
 * `error` is not about the archive's format. zlib reports a file that is not gzip at all and junk
 * after its gzip stream both as a bad header: `startsAsGzip` (whether the input began with the
 * gzip magic, see gzip-magic-probe.ts) tells them apart, or else whether anything was decompressed.
 */
export function describeArchiveError(error: unknown, decompressedBytes: number, startsAsGzip = decompressedBytes > 0): string | undefined {
  if (error instanceof TarParseError) {
    switch (error.reason) {
      case 'truncated':
        return 'is truncated (its tar archive ends in the middle of an entry)';
      case 'oversized-header':
        return 'has a tar extended header over 4 MiB';
      case 'corrupt':
        return 'is not a valid tar archive (invalid tar header)';
    }
  }
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === 'Z_BUF_ERROR') return 'is truncated (its gzip stream ends early)';
  if (code === 'Z_DATA_ERROR' && message === 'incorrect header check') {
    return startsAsGzip ? 'has data after the end of its gzip stream' : 'is not a gzip file';
  }
  if (typeof code === 'string' && code.startsWith('Z_')) return `has corrupt gzip data (${message})`;
  return undefined;
}
