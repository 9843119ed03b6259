/**
 * A pass-through stage that notes whether its input starts with the gzip magic bytes, so an
 * "incorrect header check" from gunzip can be told apart: a file that is not gzip at all, or junk
 * after a complete gzip stream. How much gunzip had decompressed by the time it failed cannot tell
 * them apart, as with large zlib chunks it may not have handed anything on yet.
 */
import { Transform } from 'node:stream';

const GZIP_MAGIC = [0x1f, 0x8b];

/** A probe and what it saw. */
export interface GzipMagicProbe {
  /** Put this in front of the gunzip. */
  readonly stream: Transform;
  /** Whether the first bytes that went through were the gzip magic. */
  startsAsGzip(): boolean;
}

/** A fresh probe. */
export function createGzipMagicProbe(): GzipMagicProbe {
  const head: number[] = [];
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (let index = 0; head.length < GZIP_MAGIC.length && index < chunk.length; index += 1) head.push(chunk[index] as number);
      callback(null, chunk);
    },
  });
  return { stream, startsAsGzip: () => GZIP_MAGIC.every((byte, index) => head[index] === byte) };
}
