/**
 * How to split a server-side copy into parts: S3's CopyObject stops at 5 GiB, beyond which an
 * object is copied as a multipart upload of UploadPartCopy ranges (at most 10,000 parts).
 */
import type { ByteRange } from './blob-store.ts';

export const MAX_PARTS = 10_000;

/** Consecutive inclusive ranges of at most `partBytes` covering `size` bytes; throws past 10,000 parts. */
export function copyPartRanges(size: number, partBytes: number): ByteRange[] {
  if (!Number.isSafeInteger(size) || size < 1) throw new RangeError(`cannot split ${size} bytes into copy parts`);
  if (!Number.isSafeInteger(partBytes) || partBytes < 1) throw new RangeError(`invalid copy part size ${partBytes}`);
  const count = Math.ceil(size / partBytes);
  if (count > MAX_PARTS) throw new RangeError(`${size} bytes in parts of ${partBytes} would need ${count} parts; S3 allows ${MAX_PARTS}`);
  return Array.from({ length: count }, (_, index) => ({
    start: index * partBytes,
    end: Math.min(size, (index + 1) * partBytes) - 1,
  }));
}
