/**
 * `Range: bytes=…` for blob downloads. One range only (what registry clients send to resume);
 * several ranges are answered with the whole blob, as RFC 9110 allows.
 */
import type { ByteRange } from '../blobstore/blob-store.ts';
import { RegistryError } from '../errors/registry-error.ts';

/** The range to serve, `undefined` for the whole blob; RANGE_INVALID (416) when unsatisfiable. */
export function parseByteRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) {
    if (/^bytes=[\d\s,-]+$/.test(header.trim())) return undefined; // several ranges: whole blob
    throw unsatisfiable(header, size);
  }
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') throw unsatisfiable(header, size);
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable(header, size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) throw unsatisfiable(header, size);
  return { start, end };
}

function unsatisfiable(header: string, size: number): RegistryError {
  return new RegistryError('RANGE_INVALID', `range ${header} cannot be satisfied for a blob of ${size} bytes`, {
    detail: { size, contentRange: `bytes */${size}` },
  });
}
