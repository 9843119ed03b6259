/**
 * `Range: bytes=…` for blob downloads (RFC 9110 §14). One range only (what registry clients send to
 * resume); several ranges are answered with the whole blob, as the RFC allows, and so is a header
 * the RFC says to ignore: another unit (`items=0-1`) or an invalid range (`bytes=5-4`, `bytes=-`).
 * Only a valid range that misses the blob is refused (416).
 */
import type { ByteRange } from '../blobstore/blob-store.ts';
import { RegistryError } from '../errors/registry-error.ts';

/** The range to serve, `undefined` for the whole blob; RANGE_INVALID (416) when unsatisfiable. */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? '');
  if (!header || !match) return undefined;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '') {
    if (last === '') return undefined;
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable(header, size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return undefined;
  if (start >= size) throw unsatisfiable(header, size);
  return { start, end: last === '' ? size - 1 : Math.min(Number(last), size - 1) };
}

function unsatisfiable(header: string, size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', `range ${header} cannot be satisfied for a blob of ${size} bytes`, {
    detail: { size, contentRange: `bytes */${size}` },
  });
}
